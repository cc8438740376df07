"""Makes what a launch may name besides its image and subnet, for tests/it/preflight.rs: a key
pair, a security group in the subnet's VPC and an IAM instance profile. Prints their ids and
names as JSON. Uses boto3 (installed with moto), a real AWS SDK, not rebound."""
import json
import sys

import boto3

url, vpc = sys.argv[1], sys.argv[2]
ec2 = boto3.client("ec2", endpoint_url=url, region_name="us-east-1")
iam = boto3.client("iam", endpoint_url=url, region_name="us-east-1")
ec2.create_key_pair(KeyName="ops-key")
group = ec2.create_security_group(GroupName="web", Description="web", VpcId=vpc)["GroupId"]
iam.create_instance_profile(InstanceProfileName="web-profile")
print(json.dumps({"key": "ops-key", "group": group, "profile": "web-profile"}))
