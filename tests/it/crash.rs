//! Crash safety against a real peer (moto): a run is killed with SIGKILL just before each of its
//! journal records in turn (`REBOUND_CRASH_BEFORE_RECORD`), then `rebound resume` finishes it.
//! Whatever the cut point, the account ends as an uninterrupted run leaves it: the same
//! resources, none twice (counted by tag through boto3), and a drill leaves nothing at all.
//! The harness's moto behaves as EC2 does where plain moto is kinder: a new id is unseen by
//! Describe calls (and tag filters) for a second, and RunInstances and CreateVolume honour
//! ClientToken. A resume right after a crash therefore cannot find by tag what the killed
//! process made a moment before; what keeps it from making it twice is the journal's intent
//! and the same token re-issued, as on AWS. (With tokens ignored, as plain moto ignores them,
//! this test made a third web instance: a lookup by tag alone is not enough.)

use crate::common;

use std::os::unix::process::ExitStatusExt as _;
use std::path::Path;
use std::process::Output;

use common::moto::{FAST, Moto};
use serde_json::{Value, json};

fn runbook(subnet: &str) -> String {
    format!(
        r#"runbook "crash-web" {{
  region = "us-east-1"
  tags   = {{ Owner = "tests" }}

  path ami {{
    step image = find_image {{ owners = ["self"], tags = {{ App = "web" }} }}
    step web = launch {{ image = image.id, subnet = "{subnet}", instance_types = ["t3.micro"], count = 2 }}
    step web_ok = verify {{ instances = web.instances, checks = ["running"] }}
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

/// moto answers at once: the pollers may look at once too.
struct Peer {
    moto: Moto,
    subnet: String,
}

impl Peer {
    fn start() -> Peer {
        let moto = Moto::start();
        let seeded = moto.python("seed_account.py", &[]);
        let subnet = seeded["subnet"].as_str().expect("subnet").to_string();
        Peer { moto, subnet }
    }

    /// A scratch directory with the runbook and the latency model.
    fn scratch(&self) -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("dir");
        std::fs::write(dir.path().join("web.runbook"), runbook(&self.subnet)).expect("write");
        std::fs::write(dir.path().join("fast.json"), FAST).expect("write");
        dir
    }

    fn run(&self, dir: &Path, drill: bool, crash_before: Option<usize>) -> Output {
        let mut args = vec![
            "run",
            "web.runbook",
            "--backend",
            "aws",
            "--latency",
            "fast.json",
        ];
        if drill {
            args.push("--drill");
        }
        let cut = crash_before.map(|n| n.to_string());
        let env: Vec<(&str, &str)> = cut
            .as_deref()
            .map(|n| vec![("REBOUND_CRASH_BEFORE_RECORD", n)])
            .unwrap_or_default();
        self.moto.rebound(dir, &args, &env)
    }

    /// What the account holds tagged with `run`.
    fn tagged(&self, run: &str) -> Value {
        self.moto.python("count_tagged.py", &[run])
    }
}

/// The runs journaled in `dir/state`, newest first.
fn runs(peer: &Peer, dir: &Path) -> Vec<Value> {
    let out = peer.moto.rebound(dir, &["runs", "--format", "json"], &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice::<Vec<Value>>(&out.stdout).expect("runs json")
}

fn only_run(peer: &Peer, dir: &Path) -> String {
    let runs = runs(peer, dir);
    assert_eq!(runs.len(), 1, "{runs:?}");
    runs[0]["run_id"].as_str().expect("run id").to_string()
}

fn journal_text(dir: &Path, run: &str) -> String {
    std::fs::read_to_string(dir.join("state").join(format!("{run}.journal"))).expect("journal")
}

fn journal_records(dir: &Path, run: &str) -> usize {
    journal_text(dir, run)
        .lines()
        .filter(|l| !l.is_empty())
        .count()
}

fn show(out: &Output) -> String {
    format!(
        "status {:?}\n--- stdout:\n{}\n--- stderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// What an uninterrupted recovery of the runbook leaves, by step: two web instances, one host,
/// a root volume per instance and the data volume, attached.
#[track_caller]
fn expected_recovery(tagged: &Value, what: &str) {
    assert_eq!(tagged["instances"], 3, "{what}: {tagged}");
    assert_eq!(
        tagged["instances_by_step"]["web"].as_array().map(Vec::len),
        Some(2),
        "{what}: {tagged}"
    );
    assert_eq!(
        tagged["instances_by_step"]["host"].as_array().map(Vec::len),
        Some(1),
        "{what}: {tagged}"
    );
    assert_eq!(
        tagged["volumes_by_step"]["disk"].as_array().map(Vec::len),
        Some(1),
        "{what}: {tagged}"
    );
    assert_eq!(tagged["volumes"], 4, "{what}: {tagged}");
    assert_eq!(tagged["attached"], 4, "{what}: {tagged}");
}

fn nothing(tagged: &Value) {
    let none = json!({
        "instances": 0, "instances_by_step": {}, "volumes": 0, "volumes_by_step": {},
        "attached": 0, "images": 0, "snapshots": 0
    });
    assert_eq!(tagged, &none, "the drill left something behind");
}

/// Kills a run before each journal record of its share in turn (cut points `part` modulo
/// `PARTS`: the shares run as tests of their own, side by side) and resumes it; returns the
/// number of records.
fn every_cut_point(drill: bool, part: usize) -> usize {
    let peer = Peer::start();
    let whole = peer.scratch();
    let out = peer.run(whole.path(), drill, None);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let run = only_run(&peer, whole.path());
    let records = journal_records(whole.path(), &run);
    if drill {
        nothing(&peer.tagged(&run));
    } else {
        expected_recovery(&peer.tagged(&run), "uninterrupted");
    }

    // Before the first record (the header) nothing has happened: no run to resume.
    if part == 1 % PARTS {
        let dir = peer.scratch();
        let out = peer.run(dir.path(), drill, Some(1));
        assert_eq!(out.status.signal(), Some(9), "{}", show(&out));
        assert!(runs(&peer, dir.path()).is_empty());
    }

    for cut in (2..=records).filter(|c| c % PARTS == part) {
        let dir = peer.scratch();
        let out = peer.run(dir.path(), drill, Some(cut));
        assert_eq!(
            out.status.signal(),
            Some(9),
            "cut {cut}: not killed\n{}",
            show(&out)
        );
        let run = only_run(&peer, dir.path());
        let resumed = peer.moto.rebound(dir.path(), &["resume", &run], &[]);
        assert_eq!(
            resumed.status.code(),
            Some(0),
            "cut {cut}: resume failed\n{}",
            show(&resumed)
        );
        let tagged = peer.tagged(&run);
        if drill {
            nothing(&tagged);
        } else {
            expected_recovery(
                &tagged,
                &format!(
                    "cut {cut} of {records}, resumed\n{}\n--- journal:\n{}\n",
                    show(&resumed),
                    journal_text(dir.path(), &run)
                ),
            );
            // And a later teardown removes all of it.
            let torn = peer.moto.rebound(dir.path(), &["teardown", &run], &[]);
            assert_eq!(torn.status.code(), Some(0), "cut {cut}: {}", show(&torn));
            nothing(&peer.tagged(&run));
        }
    }
    records
}

/// How many tests share the cut points of one kind of run.
const PARTS: usize = 2;

#[test]
fn a_recovery_killed_before_any_journal_record_resumes_to_the_same_account() {
    let cuts = every_cut_point(false, 0);
    eprintln!("recovery: {cuts} cut points, the even ones");
    assert!(cuts >= 20, "fewer records than expected: {cuts}");
}

#[test]
fn a_recovery_killed_before_any_odd_journal_record_resumes_to_the_same_account() {
    let cuts = every_cut_point(false, 1);
    eprintln!("recovery: {cuts} cut points, the odd ones");
    assert!(cuts >= 20, "fewer records than expected: {cuts}");
}

#[test]
fn a_drill_killed_before_any_journal_record_resumes_and_leaves_nothing() {
    let cuts = every_cut_point(true, 0);
    eprintln!("drill: {cuts} cut points, the even ones");
    assert!(cuts >= 20, "fewer records than expected: {cuts}");
}

#[test]
fn a_drill_killed_before_any_odd_journal_record_resumes_and_leaves_nothing() {
    let cuts = every_cut_point(true, 1);
    eprintln!("drill: {cuts} cut points, the odd ones");
    assert!(cuts >= 20, "fewer records than expected: {cuts}");
}

#[test]
fn teardown_refuses_a_forged_journal_entry_for_an_instance_it_did_not_make() {
    let peer = Peer::start();
    let victim = peer.moto.python("make_instance.py", &[&peer.subnet]);
    let victim = victim["id"].as_str().expect("instance id").to_string();
    let dir = peer.scratch();
    let out = peer.run(dir.path(), false, None);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let run = only_run(&peer, dir.path());
    // Forge: the journal now claims the run created the pre-existing, untagged instance.
    let path = dir.path().join("state").join(format!("{run}.journal"));
    let mut text = std::fs::read_to_string(&path).expect("journal");
    text += &format!(
        "{}\n",
        json!({"type": "created", "step": "web", "resource": {"kind": "instance", "id": victim}, "at": 1.0})
    );
    std::fs::write(&path, text).expect("forge");

    let torn = peer.moto.rebound(dir.path(), &["teardown", &run], &[]);
    let stdout = String::from_utf8_lossy(&torn.stdout);
    assert_eq!(torn.status.code(), Some(4), "{}", show(&torn));
    let line = stdout
        .lines()
        .find(|l| l.contains(&victim))
        .unwrap_or_else(|| panic!("the forged instance is not reported\n{stdout}"));
    assert!(
        line.contains("skipped") && line.contains("refused"),
        "{line}"
    );
    // Everything the run really made is gone; the victim still runs.
    nothing(&peer.tagged(&run));
    let state = peer.moto.python("instance_state.py", &[&victim]);
    assert_eq!(
        state["state"], "running",
        "the forged entry's instance was touched"
    );
}

#[test]
fn a_torn_journal_line_is_tolerated_by_resume() {
    let peer = Peer::start();
    let dir = peer.scratch();
    let out = peer.run(dir.path(), false, Some(12));
    assert_eq!(out.status.signal(), Some(9), "{}", show(&out));
    let run = only_run(&peer, dir.path());
    // A power cut mid-write: half a record, no newline.
    let path = dir.path().join("state").join(format!("{run}.journal"));
    let mut text = std::fs::read_to_string(&path).expect("journal");
    text += r#"{"type":"intent","step":"disk","op":"CreateVol"#;
    std::fs::write(&path, text).expect("tear");

    let resumed = peer.moto.rebound(dir.path(), &["resume", &run], &[]);
    assert_eq!(resumed.status.code(), Some(0), "{}", show(&resumed));
    let stderr = String::from_utf8_lossy(&resumed.stderr);
    assert!(stderr.contains("the last record was torn"), "{stderr}");
    expected_recovery(&peer.tagged(&run), "uninterrupted");
    // The journal reads cleanly afterwards too.
    let listed = runs(&peer, dir.path());
    assert_eq!(listed[0]["state"], "succeeded", "{listed:?}");
}

/// Two `resume`s of one crashed run at once (before the run lock they made six instances and
/// two data volumes where three and one were right): one finishes the run; the other is
/// refused at once, naming the holder, or (if it came second) finds nothing to resume. The
/// account holds what one recovery makes, and the history one record, the finishing attempt.
#[test]
fn two_resumes_at_once_recover_once() {
    let peer = Peer::start();
    let dir = peer.scratch();
    // Killed mid-way: the images found, the launches intended.
    let out = peer.run(dir.path(), false, Some(6));
    assert_eq!(out.status.signal(), Some(9), "{}", show(&out));
    let run = only_run(&peer, dir.path());
    let spawn = || {
        peer.moto
            .command(dir.path(), &["resume", &run], &[])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn resume")
    };
    let (a, b) = (spawn(), spawn());
    let outs = [
        a.wait_with_output().expect("wait"),
        b.wait_with_output().expect("wait"),
    ];
    let finished: Vec<&Output> = outs.iter().filter(|o| o.status.code() == Some(0)).collect();
    assert_eq!(finished.len(), 1, "{}\n{}", show(&outs[0]), show(&outs[1]));
    let other = outs
        .iter()
        .find(|o| o.status.code() != Some(0))
        .expect("the other resume");
    let said = String::from_utf8_lossy(&other.stderr);
    assert!(
        (other.status.code() == Some(1) && said.contains("is live: `rebound resume` holds it"))
            || (other.status.code() == Some(2) && said.contains("nothing to resume")),
        "{}",
        show(other)
    );
    expected_recovery(&peer.tagged(&run), "two resumes at once");
    let history = peer
        .moto
        .rebound(dir.path(), &["history", "--format", "json"], &[]);
    let records: Vec<Value> = serde_json::from_slice(&history.stdout).expect("history json");
    let attempts: Vec<(Option<&str>, Option<u64>)> = records
        .iter()
        .map(|r| (r["run_id"].as_str(), r["attempt"].as_u64()))
        .collect();
    assert_eq!(attempts, [(Some(run.as_str()), Some(2))], "{records:?}");
}
