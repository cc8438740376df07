"""What a run left in the moto account, read through boto3 (not through rebound's report):
the instances and volumes tagged with the run id, and how many instances the account has in
all (whoever made them), as JSON."""
import json
import sys

import boto3

ec2 = boto3.client("ec2", endpoint_url=sys.argv[1], region_name="us-east-1")
run_filter = [{"Name": "tag:rebound:run-id", "Values": [sys.argv[2]]}]
instances = [
    {
        "id": i["InstanceId"],
        "image": i["ImageId"],
        "subnet": i.get("SubnetId"),
        "zone": i["Placement"]["AvailabilityZone"],
        "type": i["InstanceType"],
        "tags": {t["Key"]: t["Value"] for t in i.get("Tags", [])},
    }
    for r in ec2.describe_instances(Filters=run_filter)["Reservations"]
    for i in r["Instances"]
]
volumes = [
    {
        "id": v["VolumeId"],
        "snapshot": v.get("SnapshotId"),
        "zone": v["AvailabilityZone"],
        "attachments": [{"instance": a["InstanceId"], "device": a["Device"]} for a in v.get("Attachments", [])],
    }
    for v in ec2.describe_volumes(Filters=run_filter)["Volumes"]
]
images = len(ec2.describe_images(Owners=["self"])["Images"])
all_instances = sum(len(r["Instances"]) for r in ec2.describe_instances()["Reservations"])
print(json.dumps({"instances": instances, "volumes": volumes, "images": images, "all_instances": all_instances}))
