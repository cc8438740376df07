"""An isolated drill as boto3 sees it while it runs: the security groups tagged as made for
isolation (their rules), and the instances of step `web` (their groups and public address), as
JSON. Run by the drill's own `exec` step, so that what is read is the account mid-drill.
argv: endpoint URL."""
import json
import sys

import boto3

ec2 = boto3.client("ec2", endpoint_url=sys.argv[1], region_name="us-east-1")
groups = [
    {
        "id": g["GroupId"],
        "vpc": g.get("VpcId"),
        "ingress": [
            {"from": p.get("FromPort"), "to": p.get("ToPort"),
             "cidrs": [r["CidrIp"] for r in p.get("IpRanges", [])]}
            for p in g.get("IpPermissions", [])
        ],
        "egress": [
            {"protocol": p.get("IpProtocol"), "from": p.get("FromPort"),
             "cidrs": [r["CidrIp"] for r in p.get("IpRanges", [])],
             "prefix_lists": [r["PrefixListId"] for r in p.get("PrefixListIds", [])]}
            for p in g.get("IpPermissionsEgress", [])
        ],
    }
    for g in ec2.describe_security_groups(
        Filters=[{"Name": "tag:rebound:step", "Values": ["isolation"]}]
    )["SecurityGroups"]
]
instances = [
    {
        "id": i["InstanceId"],
        "groups": [g["GroupId"] for g in i.get("SecurityGroups", [])],
        # moto keeps the groups of an instance launched with a network interface on the
        # interface only; AWS reports them in both places.
        "interface_groups": [
            g["GroupId"] for n in i.get("NetworkInterfaces", []) for g in n.get("Groups", [])
        ],
        "public_ip": i.get("PublicIpAddress"),
    }
    for r in ec2.describe_instances(
        Filters=[{"Name": "tag:rebound:step", "Values": ["web"]}]
    )["Reservations"]
    for i in r["Instances"]
    if i["State"]["Name"] != "terminated"
]
print(json.dumps({"groups": groups, "instances": instances}))
