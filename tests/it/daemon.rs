//! `rebound daemon DIR` through the binary: drills run at their schedule (on a clock sped up
//! 60 times, so a 1-minute schedule fires every second) and never overlap, SIGTERM stops the
//! drill in flight and exits 0, a broken runbook is reported while the others go on, and
//! times missed while the daemon was down run once or are skipped.

use crate::common;

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A daemon in a scratch directory, its stdout and stderr collected as they come.
struct Daemon {
    child: Child,
    out: Arc<Mutex<String>>,
    err: Arc<Mutex<String>>,
}

fn collect(from: impl std::io::Read + Send + 'static) -> Arc<Mutex<String>> {
    let text = Arc::new(Mutex::new(String::new()));
    let sink = Arc::clone(&text);
    std::thread::spawn(move || {
        for line in BufReader::new(from).lines().map_while(Result::ok) {
            if let Ok(mut t) = sink.lock() {
                t.push_str(&line);
                t.push('\n');
            }
        }
    });
    text
}

impl Daemon {
    fn start(dir: &Path, args: &[&str]) -> Daemon {
        Daemon::start_with(dir, args, std::iter::empty::<(String, String)>())
    }

    /// The same, with more environment (moto's credentials).
    fn start_with(
        dir: &Path,
        args: &[&str],
        envs: impl IntoIterator<Item = (impl AsRef<std::ffi::OsStr>, impl AsRef<std::ffi::OsStr>)>,
    ) -> Daemon {
        let mut child = common::rebound_in(dir)
            .arg("daemon")
            .args(args)
            .envs(envs)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn the daemon");
        let out = collect(child.stdout.take().expect("stdout"));
        let err = collect(child.stderr.take().expect("stderr"));
        Daemon { child, out, err }
    }

    fn stdout(&self) -> String {
        self.out.lock().map(|t| t.clone()).unwrap_or_default()
    }

    fn stderr(&self) -> String {
        self.err.lock().map(|t| t.clone()).unwrap_or_default()
    }

    /// Waits until stdout satisfies `what` (at most 30 s).
    fn wait_for(&self, why: &str, what: impl Fn(&str) -> bool) {
        self.wait_on(why, Daemon::stdout, what);
    }

    /// Waits until stderr satisfies `what` (at most 30 s): its pipe is read by a thread of
    /// its own, so what the daemon wrote there before a stdout line may not be read yet.
    fn wait_for_stderr(&self, why: &str, what: impl Fn(&str) -> bool) {
        self.wait_on(why, Daemon::stderr, what);
    }

    fn wait_on(&self, why: &str, read: fn(&Daemon) -> String, what: impl Fn(&str) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if what(&read(self)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "{why}: not seen in time\n--- stdout:\n{}\n--- stderr:\n{}",
            self.stdout(),
            self.stderr()
        );
    }

    /// Sends SIGTERM and waits for the daemon to exit; its exit code.
    fn terminate(mut self) -> (Option<i32>, String, String) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
        let code = self.child.wait().expect("wait").code();
        // The reader threads finish with the pipes.
        std::thread::sleep(Duration::from_millis(100));
        (code, self.stdout(), self.stderr())
    }
}

fn history_count(dir: &Path) -> usize {
    let out = common::rebound_in(dir)
        .args(["history", "--format", "json"])
        .output()
        .expect("history");
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    rows.as_array().map_or(0, Vec::len)
}

const TICK: &str =
    "runbook \"tick\" {\n  schedule = \"* * * * *\"\n  step w = wait { duration = 3s }\n}\n";

#[test]
fn drills_run_at_their_schedule_never_overlap_and_sigterm_is_clean() {
    let dir = tempfile::tempdir().expect("dir");
    std::fs::create_dir(dir.path().join("dr")).expect("mkdir");
    std::fs::write(dir.path().join("dr/tick.runbook"), TICK).expect("write");
    // Every minute on a clock 60 times fast: a time every second; each drill waits 3 s of
    // wall time (`--realtime`), so times come while a drill runs.
    let daemon = Daemon::start(
        dir.path(),
        &["dr", "--clock-speed", "60", "--", "--realtime"],
    );
    daemon.wait_for("two drills started", |out| {
        out.matches("tick: drill for").count() >= 2
    });
    daemon.wait_for("a third drill running", |out| {
        out.matches("tick: drill for").count() >= 3
    });
    // Into its 3-second wait: a drill signalled in its first milliseconds, before it watches
    // for signals, dies of SIGTERM instead of stopping (it has made nothing by then).
    std::thread::sleep(Duration::from_secs(1));
    let (code, out, err) = daemon.terminate();
    assert_eq!(code, Some(0), "stdout:\n{out}\nstderr:\n{err}");

    // Never two at once: between two starts, the earlier drill finished.
    let events: Vec<&str> = out
        .lines()
        .filter_map(|l| {
            if l.contains("tick: drill for") {
                Some("start")
            } else if l.contains("tick: drill finished") {
                Some("end")
            } else {
                None
            }
        })
        .collect();
    for pair in events.windows(2) {
        assert_ne!(pair, ["start", "start"], "overlapping drills:\n{out}");
    }
    assert!(
        out.contains("skipped 1 time(s)") && out.contains("the previous drill is still running"),
        "no time was skipped while a drill ran:\n{out}"
    );
    // SIGTERM reached the drill in flight, which stopped (cancelled: exit 1), then the daemon.
    assert!(out.contains("stopping: 1 drill(s) in flight"), "{out}");
    assert!(
        out.contains("tick: drill stopped (exit status: 1)"),
        "{out}"
    );
    assert!(out.trim_end().ends_with("stopped"), "{out}");
    // Every drill, finished or stopped, is in the history.
    let started = events.iter().filter(|e| **e == "start").count();
    assert_eq!(history_count(dir.path()), started, "{out}");
}

#[test]
fn a_broken_runbook_is_reported_and_the_rest_go_on() {
    let dir = tempfile::tempdir().expect("dir");
    std::fs::create_dir(dir.path().join("dr")).expect("mkdir");
    // Once a year (1 January, 00:00 UTC): an hourly schedule fired a drill when the test ran
    // across the hour, and the daemon then stopped with one drill running.
    let scheduled = |name: &str| {
        format!(
            "runbook \"{name}\" {{\n  schedule = \"0 0 1 1 *\"\n  step w = wait {{ duration = 1s }}\n}}\n"
        )
    };
    std::fs::write(dir.path().join("dr/good.runbook"), scheduled("good")).expect("write");
    let daemon = Daemon::start(dir.path(), &["dr"]);
    daemon.wait_for("good scheduled", |out| out.contains("scheduled: good"));

    std::fs::write(
        dir.path().join("dr/bad.runbook"),
        "runbook \"bad\" {\n  schedule = \"0 * * *\"\n}\n",
    )
    .expect("write");
    daemon.wait_for("bad reported", |out| {
        out.contains("bad.runbook: broken, not scheduled until it is fixed")
    });
    daemon.wait_for_stderr("a diagnostic with a position", |err| {
        err.contains("bad.runbook:2:")
    });
    daemon.wait_for("good still scheduled", |out| {
        out.matches("scheduled: good").count() >= 2
    });

    std::fs::write(dir.path().join("dr/bad.runbook"), scheduled("bad")).expect("write");
    daemon.wait_for("bad fixed", |out| out.contains("scheduled: bad, good"));
    let (code, out, _) = daemon.terminate();
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("stopping: 0 drill(s)"), "{out}");
}

/// A daemon memory saying the drill of `dr/FILE` last ran `hours_ago`, under `schedule`.
fn remember_last_drill(dir: &Path, file: &str, schedule: &str, hours_ago: i64) {
    std::fs::create_dir_all(dir.join("state")).expect("mkdir");
    let path = dir.join("dr").join(file).canonicalize().expect("runbook");
    let last = chrono::Utc::now() - chrono::Duration::hours(hours_ago);
    let memory = serde_json::json!({ "last": { path.to_str().expect("utf-8"): {
        "at": last.to_rfc3339(), "schedule": schedule } } });
    std::fs::write(dir.join("state/daemon.json"), memory.to_string()).expect("write");
}

#[test]
fn times_missed_while_down_run_once_or_are_skipped() {
    // Hourly at the minute half an hour from now: the last time was 30 minutes ago, well past
    // the minute within which a time still counts as on time (a schedule at minute 0 made this
    // test fail when it ran in the first minute of an hour).
    use chrono::Timelike as _;
    let minute = (chrono::Utc::now().minute() + 30) % 60;
    let schedule = format!("{minute} * * * *");
    let hourly = format!(
        "runbook \"hourly\" {{\n  schedule = \"{schedule}\"\n  step w = wait {{ duration = 1s }}\n}}\n"
    );
    for (policy, expect_run) in [("once", true), ("skip", false)] {
        let dir = tempfile::tempdir().expect("dir");
        std::fs::create_dir(dir.path().join("dr")).expect("mkdir");
        std::fs::write(dir.path().join("dr/hourly.runbook"), &hourly).expect("write");
        remember_last_drill(dir.path(), "hourly.runbook", &schedule, 3);
        let daemon = Daemon::start(dir.path(), &["dr", "--missed", policy]);
        if expect_run {
            daemon.wait_for("the missed times run once", |out| {
                out.contains("missed time(s) run once") && out.contains("hourly: drill finished")
            });
        } else {
            daemon.wait_for("the missed times skipped", |out| {
                out.contains("missed while the daemon was down (--missed skip)")
            });
        }
        let (code, out, _) = daemon.terminate();
        assert_eq!(code, Some(0), "{out}");
        assert_eq!(
            out.matches("hourly: drill for").count(),
            usize::from(expect_run),
            "{policy}: {out}"
        );
        assert_eq!(history_count(dir.path()), usize::from(expect_run), "{out}");
    }
}

/// A world with the readiness runbook's subnet, and one without it (deleted since).
const READY_WORLD: &str = r#"{"region": "us-east-1", "subnets": {"subnet-0a": "us-east-1a"},
  "images": [{"id": "ami-0a", "name": "web", "created": "2026-11-30T00:00:00Z", "state": "available",
              "owner": "self", "tags": {"Safe": "True"}}]}"#;
const ROTTED_WORLD: &str = r#"{"region": "us-east-1", "subnets": {},
  "images": [{"id": "ami-0a", "name": "web", "created": "2026-11-30T00:00:00Z", "state": "available",
              "owner": "self", "tags": {"Safe": "True"}}]}"#;

#[test]
fn readiness_is_checked_at_its_schedule_and_the_report_says_what_changed() {
    let dir = tempfile::tempdir().expect("dir");
    std::fs::create_dir(dir.path().join("dr")).expect("mkdir");
    let runbook = "runbook \"shop\" {\n  readiness = \"* * * * *\"\n  step web = launch { image = \"ami-0a\", subnet = \"subnet-0a\", instance_types = [\"t3.micro\"] }\n}\n";
    std::fs::write(dir.path().join("dr/shop.runbook"), runbook).expect("write");
    let world = dir.path().join("world.json");
    std::fs::write(&world, READY_WORLD).expect("write");
    let world_arg = world.display().to_string();
    let daemon = Daemon::start(
        dir.path(),
        &["dr", "--clock-speed", "60", "--", "--sim-world", &world_arg],
    );
    daemon.wait_for("a readiness check finished", |out| {
        out.contains("shop: readiness check finished (exit status: 0)")
    });
    // The subnet is deleted: the next check finds it.
    std::fs::write(&world, ROTTED_WORLD).expect("write");
    daemon.wait_for("a failing readiness check", |out| {
        out.contains("shop: readiness check finished (exit status: 1)")
    });
    let (code, out, err) = daemon.terminate();
    assert_eq!(code, Some(0), "stdout:\n{out}\nstderr:\n{err}");
    assert!(
        !out.contains("drill for"),
        "a runbook without a schedule was drilled:\n{out}"
    );
    // Readiness is never a run: the runs' history is empty.
    assert_eq!(history_count(dir.path()), 0);

    let report = common::rebound_in(dir.path())
        .args(["report"])
        .output()
        .expect("report");
    let text = String::from_utf8_lossy(&report.stdout);
    assert!(
        text.contains("Readiness (rebound preflight; not evidence of recovery)"),
        "{text}"
    );
    assert!(text.contains("| shop | not ready |"), "{text}");
    assert!(
        text.contains("shop: error exists (new since the last ready check, ")
            && text.contains("subnet `subnet-0a` does not exist in us-east-1"),
        "{text}"
    );
    let json = common::rebound_in(dir.path())
        .args(["report", "--format", "json"])
        .output()
        .expect("report");
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).expect("json");
    assert_eq!(v["readiness"][0]["latest"]["runbook"], "shop", "{v:#}");
    assert!(v["readiness"][0]["last_ready"]["at"].is_string(), "{v:#}");
}

/// Waits until the file at `path` satisfies `what` (at most 60 s); its text.
fn wait_for_file(daemon: &Daemon, path: &Path, why: &str, what: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        if what(&text) {
            return text;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!(
        "{why}: not seen in time\n--- {}:\n{}\n--- stdout:\n{}\n--- stderr:\n{}",
        path.display(),
        std::fs::read_to_string(path).unwrap_or_default(),
        daemon.stdout(),
        daemon.stderr()
    );
}

#[test]
fn the_metrics_file_is_written_at_start_and_again_after_each_drill() {
    // Drills against AWS (moto): a simulated drill is no evidence, so it would change nothing.
    let moto = common::moto::Moto::start();
    let dir = tempfile::tempdir().expect("dir");
    std::fs::create_dir(dir.path().join("dr")).expect("mkdir");
    let once =
        "runbook \"tick\" {\n  schedule = \"* * * * *\"\n  step w = wait { duration = 1s }\n}\n";
    std::fs::write(dir.path().join("dr/tick.runbook"), once).expect("write");
    let prom = dir.path().join("textfile/rebound.prom");
    std::fs::create_dir(dir.path().join("textfile")).expect("mkdir");
    let prom_arg = prom.display().to_string();
    let daemon = Daemon::start_with(
        dir.path(),
        &[
            "dr",
            "--clock-speed",
            "60",
            "--metrics-file",
            &prom_arg,
            "--",
            "--backend",
            "aws",
            "--endpoint-url",
            &moto.url,
        ],
        common::moto::credentials(),
    );
    // At start, before its first drill: scheduled, never passed.
    wait_for_file(&daemon, &prom, "the first metrics", |t| {
        t.contains("rebound_drill_last_pass_timestamp_seconds{runbook=\"tick\"} 0\n")
    });
    let text = wait_for_file(&daemon, &prom, "the metrics after a drill", |t| {
        t.contains("rebound_drill_last_passed{runbook=\"tick\"} 1\n")
    });
    let (code, out, errs) = daemon.terminate();
    assert_eq!(code, Some(0), "stdout:\n{out}\nstderr:\n{errs}");
    assert!(
        out.contains("tick: drill finished (exit status: 0)"),
        "{out}"
    );
    let om = openmetrics_parser::openmetrics::parse_openmetrics(&text)
        .unwrap_or_else(|e| panic!("not OpenMetrics: {e:?}\n{text}"));
    assert!(
        om.families
            .contains_key("rebound_drill_last_pass_age_seconds")
    );
    // Written whole: no temporary file left beside it for the collector to trip on.
    let left: Vec<_> = std::fs::read_dir(dir.path().join("textfile"))
        .expect("dir")
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(left, [std::ffi::OsString::from("rebound.prom")]);
}
