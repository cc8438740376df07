"""One instance's state name, as JSON {"state": ...}."""
import json
import sys

import boto3

ec2 = boto3.client("ec2", endpoint_url=sys.argv[1], region_name="us-east-1")
r = ec2.describe_instances(InstanceIds=[sys.argv[2]])["Reservations"]
print(json.dumps({"state": r[0]["Instances"][0]["State"]["Name"]}))
