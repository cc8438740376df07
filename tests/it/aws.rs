//! The AWS backend against a real peer: moto in server mode on a loopback port. moto is
//! installed by `./scripts/test` into target/moto-venv; without it these tests fail, loudly.
//! The account is seeded and inspected with boto3 (a real AWS SDK), never through rebound.

use crate::common;

use common::moto::Moto;

fn runbook(subnet: &str) -> String {
    format!(
        r#"runbook "moto-web" {{
  region = "us-east-1"
  rto    = 15m
  role   = "arn:aws:iam::123456789012:role/rebound-restore" # assumed through STS
  tags   = {{ Owner = "tests" }}

  path ami {{
    step image = find_image {{ owners = ["self"], tags = {{ App = "web" }} }}
    step web = launch {{ image = image.id, subnet = "{subnet}", instance_types = ["t3.micro"], count = 2 }}
    step web_ok = verify {{ instances = web.instances, checks = ["running", "status_ok"] }}
  }}

  path snapshot {{
    step data = find_snapshot {{ tags = {{ Volume = "web-data" }} }}
    step host = launch {{ image = image.id, subnet = "{subnet}", instance_types = ["t3.micro"] }}
    step disk = create_volume {{ snapshot = data.id, zone = host.zone, type = "gp3" }}
    step mount = attach {{ volume = disk.id, instance = host.instance, device = "/dev/sdf" }}
  }}
}}
"#
    )
}

#[test]
fn a_runbook_restores_from_the_newest_safe_image_and_snapshot() {
    let moto = Moto::start();
    let seeded = moto.python("seed_account.py", &[]);
    let subnet = seeded["subnet"].as_str().expect("subnet");
    let dir = tempfile::tempdir().expect("dir");
    std::fs::write(dir.path().join("web.runbook"), runbook(subnet)).expect("write");
    let out = moto.rebound(
        dir.path(),
        &[
            "run",
            "web.runbook",
            "--backend",
            "aws",
            "--report-dir",
            "out",
        ],
        &[],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(
        stdout.contains("kept (a recovery keeps what it restored): 4 resources"),
        "{stdout}"
    );
    let report: serde_json::Value = common::report(dir.path());
    assert_eq!(report["backend"], "aws");
    assert_eq!(report["rto"]["bound_seconds"], serde_json::Value::Null);
    // Who the calls were made as, from STS (moto answers for its default user).
    assert!(
        report["aws"]["principal"]
            .as_str()
            .is_some_and(|p| p.starts_with("arn:aws:")),
        "{}",
        report["aws"]
    );
    let run_id = report["run_id"].as_str().expect("run id");

    let left = moto.python("read_account.py", &[run_id]);
    let instances = left["instances"].as_array().expect("instances");
    assert_eq!(instances.len(), 3, "two web instances and one host: {left}");
    for i in instances {
        assert_eq!(
            i["image"], seeded["safe_new"],
            "not the newest Safe image: {i}"
        );
        assert_eq!(
            i["subnet"], seeded["subnet"],
            "not in the target subnet: {i}"
        );
        assert_eq!(
            i["tags"]["Owner"], "tests",
            "the runbook's tags are missing: {i}"
        );
        assert!(
            i["tags"]["rebound:step"].is_string(),
            "no rebound:step tag: {i}"
        );
    }
    let volumes = left["volumes"].as_array().expect("volumes");
    // A root volume per instance (tagged at launch, like the instance) and the data volume.
    assert_eq!(volumes.len(), 4, "{left}");
    let roots = volumes
        .iter()
        .filter(|v| v["attachments"][0]["device"] == "/dev/sda1")
        .count();
    assert_eq!(roots, 3, "{left}");
    let disk = volumes
        .iter()
        .find(|v| v["attachments"][0]["device"] == "/dev/sdf")
        .expect("the data volume");
    assert_eq!(
        disk["snapshot"], seeded["snap_new"],
        "not the newest snapshot: {disk}"
    );
    let host = instances
        .iter()
        .find(|i| i["tags"]["rebound:step"] == "host")
        .expect("the host instance");
    assert_eq!(
        disk["zone"], host["zone"],
        "the volume is not in the instance's zone"
    );
    assert_eq!(disk["attachments"][0]["instance"], host["id"]);
    assert_eq!(disk["attachments"][0]["device"], "/dev/sdf");
    // Nothing pre-existing changed: no image was added or removed.
    assert_eq!(left["images"], seeded["images_before"]);
    // The unsafe, newer image was seen and passed over, with the reason.
    let rejected = report["steps"][0]["rejected"].as_array().expect("rejected");
    assert!(rejected.iter().any(|r| r["id"] == seeded["unsafe_newer"]
        && r["reason"].as_str().unwrap_or("").contains("not Safe")));
    // API calls per restored instance, for the record (printed with --nocapture).
    let calls: u64 = report["api_calls"]
        .as_object()
        .expect("calls")
        .values()
        .filter_map(serde_json::Value::as_u64)
        .sum();
    eprintln!(
        "api calls: {calls} for 3 instances: {}",
        report["api_calls"]
    );
}

#[test]
fn twenty_instances_cost_less_than_one_describe_each() {
    let moto = Moto::start();
    let seeded = moto.python("seed_account.py", &[]);
    let subnet = seeded["subnet"].as_str().expect("subnet");
    let text = format!(
        r#"runbook "twenty" {{
  step image = find_image {{ owners = ["self"], tags = {{ App = "web", Safe = "True" }} }}
  step fleet = launch {{ image = image.id, subnet = "{subnet}", instance_types = ["t3.micro"], count = 20 }}
  step fleet_ok = verify {{ instances = fleet.instances, checks = ["running", "status_ok"] }}
}}
"#
    );
    let dir = tempfile::tempdir().expect("dir");
    std::fs::write(dir.path().join("twenty.runbook"), text).expect("write");
    let out = moto.rebound(
        dir.path(),
        &[
            "run",
            "twenty.runbook",
            "--backend",
            "aws",
            "--region",
            "us-east-1",
            "--report-dir",
            "out",
        ],
        &[],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let report: serde_json::Value = common::report(dir.path());
    let calls = &report["api_calls"];
    let count = |op: &str| calls[op].as_u64().unwrap_or(0);
    assert_eq!(
        count("RunInstances"),
        1,
        "one mutating call for the whole fleet: {calls}"
    );
    let describes: u64 = calls
        .as_object()
        .expect("calls")
        .iter()
        .filter(|(op, _)| op.starts_with("Describe"))
        .filter_map(|(_, v)| v.as_u64())
        .sum();
    eprintln!(
        "20 instances: {calls}; {:.2} Describe calls per instance",
        describes as f64 / 20.0
    );
    assert!(
        describes <= 20,
        "more than one Describe per instance: {calls}"
    );
    let left = moto.python(
        "read_account.py",
        &[report["run_id"].as_str().expect("run id")],
    );
    assert_eq!(
        left["instances"].as_array().map(Vec::len),
        Some(20),
        "ClientToken or count went wrong: {left}"
    );
}

#[test]
fn inventory_export_rehearses_offline_against_the_real_inventory() {
    let moto = Moto::start();
    let seeded = moto.python("seed_account.py", &[]);
    let west = moto.python("seed_region.py", &["us-west-2"]);
    let subnet = seeded["subnet"].as_str().expect("subnet");
    let dir = tempfile::tempdir().expect("dir");
    let export = moto.rebound(
        dir.path(),
        &[
            "inventory",
            "export",
            "--endpoint-url",
            &moto.url,
            "--region",
            "us-east-1",
            "--also-region",
            "us-west-2",
            "--out",
            "world.json",
        ],
        &[],
    );
    assert!(
        export.status.success(),
        "{}",
        String::from_utf8_lossy(&export.stderr)
    );
    let world: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("world.json")).expect("world"),
    )
    .expect("json");
    let ids = |key: &str| -> Vec<String> {
        world[key]
            .as_array()
            .expect(key)
            .iter()
            .filter_map(|x| x["id"].as_str().map(str::to_string))
            .collect()
    };
    for key in ["safe_old", "safe_new", "unsafe_newer"] {
        assert!(
            ids("images").contains(&seeded[key].as_str().expect(key).to_string()),
            "{key} not exported"
        );
    }
    assert!(ids("snapshots").contains(&seeded["snap_new"].as_str().expect("snap").to_string()));
    assert_eq!(world["subnets"][subnet], seeded["zone"]);
    // The other region's inventory, apart: its subnet is there and not in us-east-1's.
    let west_subnet = west["subnet"].as_str().expect("west subnet");
    assert_eq!(
        world["regions"]["us-west-2"]["subnets"][west_subnet],
        west["zone"]
    );
    assert!(world["subnets"].get(west_subnet).is_none(), "{world}");

    // Offline, on the simulator, the runbook picks what it would pick on AWS.
    std::fs::write(dir.path().join("web.runbook"), runbook(subnet)).expect("write");
    // On the simulator: the export is all it needs, the server plays no part.
    let run = moto.rebound(
        dir.path(),
        &[
            "run",
            "web.runbook",
            "--sim-world",
            "world.json",
            "--report-dir",
            "out",
        ],
        &[],
    );
    assert_eq!(
        run.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&run.stdout)
    );
    let report: serde_json::Value = common::report(dir.path());
    assert_eq!(report["steps"][0]["outputs"]["id"], seeded["safe_new"]);
}

/// In an outage the newest backup there is gets restored, however old: on AWS too, a Safe
/// image older than the runbook's `rpo` is launched, and the miss is reported and exits 3.
#[test]
fn an_image_older_than_the_rpo_is_restored_and_the_miss_reported() {
    let moto = Moto::start();
    let seeded = moto.python("seed_account.py", &[]);
    let subnet = seeded["subnet"].as_str().expect("subnet");
    let dir = tempfile::tempdir().expect("dir");
    // The seeded images are a few seconds old by now: older than a 1 s RPO.
    let text = format!(
        "runbook \"old\" {{\n  rpo = 1s\n  step image = find_image {{ owners = [\"self\"], tags = {{ App = \"web\" }} }}\n  \
         step web = launch {{ image = image.id, subnet = \"{subnet}\", instance_types = [\"t3.micro\"] }}\n}}\n"
    );
    std::fs::write(dir.path().join("old.runbook"), text).expect("write");
    let out = moto.rebound(
        dir.path(),
        &[
            "run",
            "old.runbook",
            "--backend",
            "aws",
            "--report-dir",
            "out",
        ],
        &[],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(3),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let newest = seeded["safe_new"].as_str().expect("newest safe image");
    assert!(
        stdout.contains(&format!("rpo missed: image used {newest}")),
        "{stdout}"
    );
    let report = common::report(dir.path());
    let run_id = report["run_id"].as_str().expect("run id");
    let left = moto.python("read_account.py", &[run_id]);
    let instances = left["instances"].as_array().expect("instances");
    assert_eq!(instances.len(), 1, "{left}");
    assert_eq!(instances[0]["image"], newest, "{left}");
}

/// A recovery whose steps run in two regions: the newest Safe image and data snapshot are found
/// in us-east-1, a host is launched there, and both are copied into us-west-2 (the runbook's
/// region), where the web tier comes up from the copies. Then `rebound teardown`, another
/// process, finds everything from the journal and deletes it in both regions.
#[test]
fn a_recovery_across_two_regions_copies_launches_and_is_torn_down_in_both() {
    let moto = Moto::start();
    let east = moto.python("seed_account.py", &[]);
    let west = moto.python("seed_region.py", &["us-west-2"]);
    let (east_subnet, west_subnet) = (east["subnet"].as_str(), west["subnet"].as_str());
    let runbook = format!(
        r#"runbook "two-regions" {{
  region = "us-west-2"
  tags   = {{ Owner = "tests" }}

  step golden = find_image {{ region = "us-east-1", owners = ["self"], tags = {{ App = "web" }} }}
  step data = find_snapshot {{ region = "us-east-1", tags = {{ Volume = "web-data" }} }}
  step stay = launch {{
    region = "us-east-1", image = golden.id, subnet = "{}", instance_types = ["t3.micro"]
  }}
  step image = copy_image {{ image = golden.id, source_region = "us-east-1" }}
  step snap = copy_snapshot {{ snapshot = data.id, source_region = "us-east-1" }}
  step web = launch {{ image = image.id, subnet = "{}", instance_types = ["t3.micro"] }}
  step disk = create_volume {{ snapshot = snap.id, zone = web.zone }}
  step mount = attach {{ volume = disk.id, instance = web.instance, device = "/dev/sdf" }}
}}
"#,
        east_subnet.expect("east subnet"),
        west_subnet.expect("west subnet")
    );
    let dir = tempfile::tempdir().expect("dir");
    std::fs::write(dir.path().join("two.runbook"), runbook).expect("write");
    std::fs::write(dir.path().join("fast.json"), common::moto::FAST).expect("write");
    let out = moto.rebound(
        dir.path(),
        &[
            "run",
            "two.runbook",
            "--backend",
            "aws",
            "--latency",
            "fast.json",
            "--report-dir",
            "out",
        ],
        &[],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "stderr:\n{stderr}");
    let report = common::report(dir.path());
    let run_id = report["run_id"].as_str().expect("run id").to_string();
    // The report names the region of what is not in the run's own.
    let regions: Vec<(&str, &str)> = report["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .filter_map(|r| Some((r["step"].as_str()?, r["region"].as_str()?)))
        .collect();
    assert_eq!(regions, [("stay", "us-east-1")], "{}", report["resources"]);

    // Read through boto3, region by region.
    let in_east = moto.python("read_account.py", &[&run_id, "us-east-1"]);
    let in_west = moto.python("read_account.py", &[&run_id, "us-west-2"]);
    let east_instances = in_east["instances"].as_array().expect("instances");
    assert_eq!(east_instances.len(), 1, "the host in us-east-1: {in_east}");
    assert_eq!(east_instances[0]["image"], east["safe_new"]);
    assert_eq!(east_instances[0]["tags"]["rebound:step"], "stay");
    // The copies are in us-west-2, tagged as the run's; the web host runs the copied image and
    // mounts a volume of the copied snapshot.
    let copies = in_west["run_images"].as_array().expect("images");
    assert_eq!(copies.len(), 1, "one copied image: {in_west}");
    assert_eq!(copies[0]["tags"]["rebound:step"], "image");
    let snapshots = in_west["run_snapshots"].as_array().expect("snapshots");
    assert_eq!(snapshots.len(), 1, "one copied snapshot: {in_west}");
    let west_instances = in_west["instances"].as_array().expect("instances");
    assert_eq!(west_instances.len(), 1, "{in_west}");
    assert_eq!(west_instances[0]["image"], copies[0]["id"]);
    assert!(
        west_instances[0]["zone"]
            .as_str()
            .is_some_and(|z| z.starts_with("us-west-2")),
        "{in_west}"
    );
    let disk = in_west["volumes"]
        .as_array()
        .expect("volumes")
        .iter()
        .find(|v| v["attachments"][0]["device"] == "/dev/sdf")
        .cloned()
        .expect("the data volume");
    assert_eq!(disk["snapshot"], snapshots[0], "{disk}");
    assert_eq!(disk["attachments"][0]["instance"], west_instances[0]["id"]);
    // The source region keeps its originals: nothing was made there but the host.
    assert_eq!(in_east["run_images"].as_array().map(Vec::len), Some(0));
    assert_eq!(in_east["images"], east["images_before"]);

    // Teardown from the journal, in another process: both regions.
    let torn = moto.rebound(dir.path(), &["teardown", &run_id], &[]);
    let told = String::from_utf8_lossy(&torn.stderr);
    assert_eq!(torn.status.code(), Some(0), "{told}");
    assert!(
        told.contains(&format!(
            "instance {} in us-east-1 (stay): verified",
            east_instances[0]["id"].as_str().unwrap_or("?")
        )),
        "{told}"
    );
    for region in ["us-east-1", "us-west-2"] {
        let left = moto.python("read_account.py", &[&run_id, region]);
        let live = left["instances"]
            .as_array()
            .expect("instances")
            .iter()
            .filter(|i| i["state"] != "terminated")
            .count();
        assert_eq!(live, 0, "{region}: {left}");
        assert_eq!(
            left["run_images"].as_array().map(Vec::len),
            Some(0),
            "{region}: {left}"
        );
        assert_eq!(
            left["run_snapshots"].as_array().map(Vec::len),
            Some(0),
            "{region}: {left}"
        );
    }
}
