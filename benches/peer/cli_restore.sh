#!/usr/bin/env bash
# The peer for benches/peer: the restore a DR engineer writes by hand with the aws CLI instead
# of using rebound. Newest Safe web AMI, newest completed web-data snapshot, then tier after
# tier: launch, wait running, create the data volume, wait available, attach, wait in-use.
# The CLI's waiters poll at their stock delay (15 s); that is what a user gets.
# Usage: cli_restore.sh ENDPOINT_URL SUBNET_ID TIERS    (aws on PATH, credentials in env)
set -euo pipefail
endpoint=$1 subnet=$2 tiers=$3
ec2() { aws ec2 --endpoint-url "$endpoint" --region us-east-1 "$@"; }

image=$(ec2 describe-images --owners self \
  --filters Name=tag:App,Values=web Name=tag:Safe,Values=True Name=state,Values=available \
  --query 'sort_by(Images, &CreationDate)[-1].ImageId' --output text)
snapshot=$(ec2 describe-snapshots --owner-ids self \
  --filters Name=tag:Volume,Values=web-data Name=status,Values=completed \
  --query 'sort_by(Snapshots, &StartTime)[-1].SnapshotId' --output text)
echo "image $image, snapshot $snapshot"

for t in $(seq 1 "$tiers"); do
  launched=$(ec2 run-instances --image-id "$image" --subnet-id "$subnet" \
    --instance-type t3.micro --count 1 \
    --query 'Instances[0].[InstanceId, Placement.AvailabilityZone]' --output text)
  read -r instance zone <<<"$launched"
  ec2 wait instance-running --instance-ids "$instance"

  volume=$(ec2 create-volume --snapshot-id "$snapshot" --availability-zone "$zone" \
    --volume-type gp3 --query VolumeId --output text)
  ec2 wait volume-available --volume-ids "$volume"

  ec2 attach-volume --volume-id "$volume" --instance-id "$instance" --device /dev/sdf >/dev/null
  ec2 wait volume-in-use --volume-ids "$volume"
  echo "tier $t: $instance in $zone, $volume attached"
done
