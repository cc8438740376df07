"""Launches one instance with none of rebound's tags (someone else's), as JSON {"id": ...}."""
import json
import sys

import boto3

ec2 = boto3.client("ec2", endpoint_url=sys.argv[1], region_name="us-east-1")
image = ec2.describe_images(Owners=["self"])["Images"][0]["ImageId"]
r = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, InstanceType="t3.micro", SubnetId=sys.argv[2])
print(json.dumps({"id": r["Instances"][0]["InstanceId"]}))
