"""What the account holds tagged with a run id, counted through boto3 (not through rebound):
live instances (not shutting down or terminated), volumes, images and snapshots, as JSON.
Also the ids of live instances by their rebound:step tag, to spot duplicates."""
import json
import sys

import boto3

ec2 = boto3.client("ec2", endpoint_url=sys.argv[1], region_name="us-east-1")
run_filter = [{"Name": "tag:rebound:run-id", "Values": [sys.argv[2]]}]
live = [
    i
    for r in ec2.describe_instances(Filters=run_filter)["Reservations"]
    for i in r["Instances"]
    if i["State"]["Name"] not in ("shutting-down", "terminated")
]
by_step = {}
for i in live:
    step = {t["Key"]: t["Value"] for t in i.get("Tags", [])}.get("rebound:step", "")
    by_step.setdefault(step, []).append(i["InstanceId"])
volumes = ec2.describe_volumes(Filters=run_filter)["Volumes"]
vol_by_step = {}
for v in volumes:
    step = {t["Key"]: t["Value"] for t in v.get("Tags", [])}.get("rebound:step", "")
    vol_by_step.setdefault(step, []).append(v["VolumeId"])
images = ec2.describe_images(Owners=["self"], Filters=run_filter)["Images"]
snapshots = ec2.describe_snapshots(OwnerIds=["self"], Filters=run_filter)["Snapshots"]
print(json.dumps({
    "instances": len(live),
    "instances_by_step": by_step,
    "volumes": len(volumes),
    "volumes_by_step": vol_by_step,
    "attached": sum(1 for v in volumes if v.get("Attachments")),
    "images": len(images),
    "snapshots": len(snapshots),
}))
