"""Seeds a moto server for tests/aws.rs: a VPC and subnet, web images tagged Safe=True at two
times plus a newer one tagged Safe=False, and two snapshots of the data volume. Prints what it
made as JSON. Uses boto3 (installed with moto), a real AWS SDK, not rebound."""
import json
import sys
import time

import boto3

ec2 = boto3.client("ec2", endpoint_url=sys.argv[1], region_name="us-east-1")
vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24", AvailabilityZone="us-east-1b")["Subnet"]


def image(name, safe):
    image_id = ec2.register_image(Name=name, RootDeviceName="/dev/sda1")["ImageId"]
    ec2.create_tags(Resources=[image_id], Tags=[{"Key": "App", "Value": "web"}, {"Key": "Safe", "Value": safe}])
    time.sleep(1.1)  # creation dates have one-second resolution
    return image_id


def snapshot():
    volume = ec2.create_volume(AvailabilityZone="us-east-1a", Size=20)["VolumeId"]
    snap = ec2.create_snapshot(VolumeId=volume)["SnapshotId"]
    ec2.create_tags(Resources=[snap], Tags=[{"Key": "Volume", "Value": "web-data"}])
    time.sleep(1.1)
    return snap


made = {
    "vpc": vpc,
    "subnet": subnet["SubnetId"],
    "zone": subnet["AvailabilityZone"],
    "safe_old": image("web-old", "True"),
    "safe_new": image("web-new", "True"),
    "unsafe_newer": image("web-unsafe", "False"),
    "snap_old": snapshot(),
    "snap_new": snapshot(),
}
made["images_before"] = len(ec2.describe_images(Owners=["self"])["Images"])
print(json.dumps(made))
