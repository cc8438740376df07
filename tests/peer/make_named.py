"""Makes what a launch may name besides its image and subnet, for tests/it/preflight.rs: a key
pair, a security group in the subnet's VPC, an IAM instance profile, and two KMS keys with
aliases (`alias/rebound-ebs` enabled, `alias/rebound-off` disabled). Prints their ids and names
as JSON. Uses boto3 (installed with moto), a real AWS SDK, not rebound."""
import json
import sys

import boto3

url, vpc = sys.argv[1], sys.argv[2]
ec2 = boto3.client("ec2", endpoint_url=url, region_name="us-east-1")
iam = boto3.client("iam", endpoint_url=url, region_name="us-east-1")
ec2.create_key_pair(KeyName="ops-key")
group = ec2.create_security_group(GroupName="web", Description="web", VpcId=vpc)["GroupId"]
iam.create_instance_profile(InstanceProfileName="web-profile")
kms = boto3.client("kms", endpoint_url=url, region_name="us-east-1")
for alias, enabled in (("alias/rebound-ebs", True), ("alias/rebound-off", False)):
    key = kms.create_key(Description=alias)["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName=alias, TargetKeyId=key)
    if not enabled:
        kms.disable_key(KeyId=key)
print(json.dumps({"key": "ops-key", "group": group, "profile": "web-profile"}))
