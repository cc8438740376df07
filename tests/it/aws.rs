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
