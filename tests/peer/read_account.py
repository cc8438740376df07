"""What a run left in the moto account, read through boto3 (not through rebound's report):
the instances, volumes, images and snapshots tagged with the run id, and how many instances
the account has in all (whoever made them), as JSON; in us-east-1, or the region argv[3] names."""
import json
import sys

import boto3

region = sys.argv[3] if len(sys.argv) > 3 else "us-east-1"
ec2 = boto3.client("ec2", endpoint_url=sys.argv[1], region_name=region)
run_filter = [{"Name": "tag:rebound:run-id", "Values": [sys.argv[2]]}]
instances = [
    {
        "id": i["InstanceId"],
        "state": i["State"]["Name"],
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
run_images = [
    {"id": i["ImageId"], "name": i["Name"], "tags": {t["Key"]: t["Value"] for t in i.get("Tags", [])}}
    for i in ec2.describe_images(Owners=["self"], Filters=run_filter)["Images"]
]
run_snapshots = [s["SnapshotId"] for s in ec2.describe_snapshots(OwnerIds=["self"], Filters=run_filter)["Snapshots"]]
all_instances = sum(len(r["Instances"]) for r in ec2.describe_instances()["Reservations"])
print(
    json.dumps(
        {
            "instances": instances,
            "volumes": volumes,
            "images": images,
            "run_images": run_images,
            "run_snapshots": run_snapshots,
            "all_instances": all_instances,
        }
    )
)
