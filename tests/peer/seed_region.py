"""Seeds a second region of a moto server for tests/it/aws.rs: a VPC and a subnet in the region
given (argv[2]). Prints them as JSON. Uses boto3, a real AWS SDK, not rebound."""
import json
import sys

import boto3

region = sys.argv[2]
ec2 = boto3.client("ec2", endpoint_url=sys.argv[1], region_name=region)
vpc = ec2.create_vpc(CidrBlock="10.1.0.0/16")["Vpc"]["VpcId"]
subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.1.1.0/24", AvailabilityZone=f"{region}a")["Subnet"]
print(json.dumps({"vpc": vpc, "subnet": subnet["SubnetId"], "zone": subnet["AvailabilityZone"]}))
