"""The S3 side of the shared evidence store, through boto3: make a bucket with Object Lock,
try to delete or overwrite a record, or slip in an out-of-chain one. Prints JSON.

usage: evidence_bucket.py URL make BUCKET
       evidence_bucket.py URL delete BUCKET KEY      -> {"deleted": bool, "error": code}
       evidence_bucket.py URL overwrite BUCKET KEY   -> {"versions": n}
       evidence_bucket.py URL copy BUCKET FROM TO    -> {"copied": true}
"""
import json
import sys

import boto3
from botocore.exceptions import ClientError

s3 = boto3.client("s3", endpoint_url=sys.argv[1], region_name="us-east-1")
action, bucket = sys.argv[2], sys.argv[3]


def versions_of(key):
    """The versions of exactly `key`, oldest last (a prefix also lists `key.minisig`)."""
    listed = s3.list_object_versions(Bucket=bucket, Prefix=key).get("Versions", [])
    return [v for v in listed if v["Key"] == key]


if action == "make":
    s3.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    print(json.dumps({"bucket": bucket}))
elif action == "delete":
    key = sys.argv[4]
    version = versions_of(key)[0]["VersionId"]
    try:
        s3.delete_object(Bucket=bucket, Key=key, VersionId=version)
        print(json.dumps({"deleted": True, "error": None}))
    except ClientError as e:
        print(json.dumps({"deleted": False, "error": e.response["Error"]["Code"]}))
elif action == "overwrite":
    key = sys.argv[4]
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode()
    forged = body.replace('"outcome": "succeeded"', '"outcome": "failed"', 1)
    s3.put_object(Bucket=bucket, Key=key, Body=forged.encode())
    print(json.dumps({"versions": len(versions_of(key))}))
elif action == "copy":
    body = s3.get_object(Bucket=bucket, Key=sys.argv[4])["Body"].read()
    s3.put_object(Bucket=bucket, Key=sys.argv[5], Body=body)
    print(json.dumps({"copied": True}))
