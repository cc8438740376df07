//! The command line as a user types it: exit codes, where output goes, and inputs that must
//! never panic, hang or overflow the stack.

use crate::common;

use common::Test;

const GOOD: &str = "runbook \"g\" {\n  step w = wait { duration = 1m }\n}\n";

#[test]
fn check_clean_runbook_exits_0() {
    Test::new()
        .file("g.runbook", GOOD)
        .args(&["check", "g.runbook"])
        .stdout("ok: g.runbook")
        .run();
}

#[test]
fn check_reports_every_file_and_exits_2() {
    Test::new()
        .file("g.runbook", GOOD)
        .file("a.runbook", "runbook \"a\" {\n  rto = 5\n}\n")
        .file("b.runbook", "runbook \"b\" {\n  step s = lanch {}\n}\n")
        .args(&["check", "g.runbook", "a.runbook", "b.runbook"])
        .status(2)
        .stdout("ok: g.runbook")
        .stderr("a.runbook:2:9: expected a duration")
        .stderr("b.runbook:2:12: unknown action `lanch`")
        .stderr("help: did you mean `launch`?")
        .run();
}

#[test]
fn missing_file_is_bad_input() {
    Test::new()
        .args(&["check", "nope.runbook"])
        .status(2)
        .stderr("cannot read nope.runbook")
        .run();
}

#[test]
fn required_param_needs_set() {
    let rb = "runbook \"p\" {\n  param tier\n  step w = wait { duration = 1m }\n}\n";
    Test::new()
        .file("p.runbook", rb)
        .args(&["check", "p.runbook"])
        .status(2)
        .stderr("param `tier` has no value")
        .run();
    Test::new()
        .file("p.runbook", rb)
        .args(&["check", "p.runbook", "--set", "tier=web"])
        .run();
    Test::new()
        .file("p.runbook", rb)
        .args(&["check", "p.runbook", "--set", "tier=web", "--set", "teir=x"])
        .status(2)
        .stderr("this runbook has no param `teir`")
        .stderr("did you mean `tier`?")
        .run();
    Test::new()
        .file("p.runbook", rb)
        .args(&["check", "p.runbook", "--set", "tier"])
        .status(2)
        .stderr("expected NAME=VALUE")
        .run();
}

#[test]
fn bad_inputs_get_a_diagnostic_never_a_panic() {
    let huge_comment = format!("# {}\n", "x".repeat(10 * 1024 * 1024));
    let deep = format!("runbook \"d\" {{\n  tags = {}\n}}\n", "[".repeat(100_000));
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty", Vec::new(), "no runbook in this file"),
        (
            "invalid utf-8",
            b"runbook \"x\" {\n  description = \"\xff\xfe\"\n}\n".to_vec(),
            "not valid UTF-8",
        ),
        ("10 MB", huge_comment.into_bytes(), "a runbook is at most"),
        (
            "100,000 [",
            deep.into_bytes(),
            "brackets nest deeper than 32 levels",
        ),
        ("NUL", b"runbook \"x\" {\0}\n".to_vec(), "a NUL byte"),
        (
            "unterminated string",
            b"runbook \"x {\n}\n".to_vec(),
            "unterminated string",
        ),
        (
            "two runbooks",
            b"runbook \"a\" {\n}\nrunbook \"b\" {\n}\n".to_vec(),
            "a file holds exactly one runbook",
        ),
        ("garbage", b"}}}{{{ ] [ = = =".to_vec(), "expected"),
        ("only a name", b"runbook".to_vec(), "expected a string"),
    ];
    for (what, bytes, want) in cases {
        for command in ["check", "plan", "fmt", "policy", "simulate"] {
            let (out, _) = Test::new()
                .file("bad.runbook", &bytes)
                .args(&[command, "bad.runbook"])
                .status(2)
                .stderr(want)
                .run();
            assert!(
                out.stdout.is_empty() || command == "check",
                "{what}: {command} printed output"
            );
        }
    }
}

#[test]
fn fmt_rewrites_in_place_and_check_mode_reports() {
    let messy = "runbook \"m\" {\n    rto=5m\n}\n";
    let (_, dir) = Test::new()
        .file("m.runbook", messy)
        .args(&["fmt", "--check", "m.runbook"])
        .status(1)
        .stdout("would reformat m.runbook")
        .run();
    assert_eq!(
        std::fs::read_to_string(dir.path().join("m.runbook")).expect("read"),
        messy
    );
    let (_, dir) = Test::new()
        .file("m.runbook", messy)
        .args(&["fmt", "m.runbook"])
        .run();
    assert_eq!(
        std::fs::read_to_string(dir.path().join("m.runbook")).expect("read"),
        "runbook \"m\" {\n  rto = 5m\n}\n"
    );
    let leftovers: Vec<_> = std::fs::read_dir(dir.path()).expect("dir").collect();
    assert_eq!(leftovers.len(), 1, "fmt left a temporary file behind");
}

#[test]
fn fmt_of_a_broken_runbook_changes_nothing() {
    let broken = "runbook \"m\" {\n  rto = \n}\n";
    let (_, dir) = Test::new()
        .file("m.runbook", broken)
        .args(&["fmt", "m.runbook"])
        .status(2)
        .stderr("m.runbook:2:9")
        .run();
    assert_eq!(
        std::fs::read_to_string(dir.path().join("m.runbook")).expect("read"),
        broken
    );
}

#[test]
fn plan_formats() {
    let root = common::root();
    let web = root.join("runbooks/web-tier.runbook");
    let web = web.to_str().expect("utf-8 path");
    Test::new()
        .args(&["plan", web])
        .stdout("expected critical path")
        .stdout("level 0")
        .run();
    Test::new()
        .args(&["plan", web, "--format", "dot"])
        .stdout("digraph \"web-tier\"")
        .run();
    Test::new()
        .args(&["plan", web, "--format", "mermaid"])
        .stdout("flowchart LR")
        .run();
    Test::new()
        .args(&["plan", web, "--format", "json"])
        .stdout("\"schema\": \"rebound.plan/v1\"")
        .run();
    Test::new()
        .args(&["plan", web, "--format", "svg"])
        .status(2)
        .stderr("invalid value 'svg'")
        .run();
}

#[test]
fn logs_can_be_json_lines() {
    let web = common::example_text("web-tier");
    let (out, _) = Test::new()
        .file("web.runbook", web)
        .args(&[
            "-v",
            "--log-format",
            "json",
            "run",
            "web.runbook",
            "--seed",
            "3",
        ])
        .run();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let logs: Vec<serde_json::Value> = stderr
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).expect("each log line is JSON"))
        .collect();
    let finished: Vec<&serde_json::Value> = logs
        .iter()
        .filter(|l| l["fields"]["message"] == "step finished")
        .collect();
    // One line per step of the example (9 steps), each with its step, level and time.
    assert_eq!(finished.len(), 9, "{stderr}");
    for l in finished {
        assert_eq!(l["level"], "INFO");
        assert_eq!(l["fields"]["outcome"], "succeeded");
        assert!(
            l["fields"]["step"].is_string() && l["timestamp"].is_string(),
            "{l}"
        );
    }
}

#[test]
fn every_subcommand_has_help_with_examples() {
    for command in [
        &["check"][..],
        &["plan"],
        &["fmt"],
        &["run"],
        &["resume"],
        &["teardown"],
        &["runs"],
        &["schedule"],
        &["schedule", "export"],
        &["daemon"],
        &["simulate"],
        &["policy"],
        &["preflight"],
        &["history"],
        &["report"],
        &["inventory", "export"],
        &["completions"],
    ] {
        Test::new()
            .args(&[command, &["--help"]].concat())
            .stdout("Examples:")
            .run();
    }
}

/// The rfc3339 times of a report, as seconds since the epoch.
fn epoch(v: &serde_json::Value) -> f64 {
    let s = v.as_str().unwrap_or_else(|| panic!("not a time: {v}"));
    chrono::DateTime::parse_from_rfc3339(s)
        .expect("rfc3339")
        .timestamp_millis() as f64
        / 1000.0
}

#[test]
fn readme_first_command_rehearses_the_web_tier() {
    let (out, _) = Test::new()
        .args(&["run", &common::example("web-tier"), "--drill"])
        .status(0)
        .stdout("web-tier (sim, drill): succeeded")
        .stdout("critical path:")
        .run();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("[simulated: a rehearsal, not evidence of recovery]"),
        "{stdout}"
    );
}

#[test]
fn report_json_has_every_field_and_consistent_times() {
    let (_, dir) = Test::new()
        .args(&[
            "run",
            &common::example("web-tier"),
            "--drill",
            "--seed",
            "5",
            "--report-dir",
            "out",
        ])
        .run();
    let text = std::fs::read_to_string(dir.path().join("out/report.json")).expect("report.json");
    let r: serde_json::Value = serde_json::from_str(&text).expect("json");
    for field in [
        "schema",
        "run_id",
        "runbook",
        "backend",
        "mode",
        "started_at",
        "finished_at",
        "outcome",
        "rto",
        "rpo",
        "paths",
        "critical_path",
        "steps",
        "resources",
        "api_calls",
        "previous_digest",
        "digest",
    ] {
        assert!(r.get(field).is_some(), "report.json lacks {field}");
    }
    assert_eq!(r["schema"], "rebound.report/v1");
    assert_eq!(r["backend"], "sim");
    assert_eq!(r["mode"], "drill");
    assert_eq!(r["runbook"]["sha256"].as_str().map(str::len), Some(64));
    for f in ["target_seconds", "measured_seconds", "bound_seconds", "met"] {
        assert!(r["rto"].get(f).is_some(), "rto lacks {f}");
    }
    let t0 = epoch(&r["declared_at"]);
    let steps = r["steps"].as_array().expect("steps");
    for s in steps {
        for f in [
            "name",
            "path",
            "action",
            "outcome",
            "queued_at",
            "started_at",
            "finished_at",
            "duration_seconds",
            "attempts",
            "api_calls",
            "outputs",
            "error",
        ] {
            assert!(s.get(f).is_some(), "step lacks {f}: {s}");
        }
    }
    // A path's RTO is its last step's finish minus t0.
    for p in r["paths"].as_array().expect("paths") {
        let last = steps
            .iter()
            .filter(|s| s["path"] == p["name"])
            .map(|s| epoch(&s["finished_at"]))
            .fold(0.0, f64::max);
        let measured = p["measured_seconds"].as_f64().expect("measured");
        assert!(
            (measured - (last - t0)).abs() < 0.01,
            "path {}: {measured} vs {}",
            p["name"],
            last - t0
        );
    }
    // The run's RTO (strategy all) is the last path's, and never below the cloud's bound.
    let rto = r["rto"]["measured_seconds"].as_f64().expect("rto");
    let bound = r["rto"]["bound_seconds"].as_f64().expect("bound");
    assert!(rto >= bound && bound > 0.0, "rto {rto}, bound {bound}");
    let kinds: Vec<&str> = r["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .filter_map(|x| x["kind"].as_str())
        .collect();
    assert_eq!(
        kinds,
        ["instance", "instance", "instance", "volume"],
        "two web instances, one host, its disk"
    );
    let launches = r["api_calls"]["RunInstances"]
        .as_u64()
        .expect("RunInstances counted");
    assert_eq!(launches, 2);
    // The digest covers the report.
    assert_eq!(r["digest"].as_str().map(str::len), Some(64));
}

#[test]
fn declared_at_moves_t0() {
    let declared = (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339();
    let (_, dir) = Test::new()
        .args(&[
            "run",
            &common::example("web-tier"),
            "--declared-at",
            &declared,
            "--report-dir",
            "out",
        ])
        // An hour after the disaster, the 15-minute target is missed.
        .status(3)
        .run();
    let r: serde_json::Value = common::report(dir.path());
    let rto = r["rto"]["measured_seconds"].as_f64().expect("rto");
    assert!(rto > 3600.0 && rto < 3600.0 + 900.0, "rto {rto}");
}

#[test]
fn approve_without_a_terminal_fails_unless_approved_in_advance() {
    Test::new()
        .args(&["run", &common::example("region-recovery")])
        .status(1)
        .stdout("failed: go: needs a person to approve")
        .run();
    Test::new()
        .args(&["run", &common::example("region-recovery"), "--approve"])
        .status(0)
        .stdout("shop-region-recovery (sim, recovery): succeeded")
        .run();
}

#[test]
fn a_missed_target_exits_3_and_bad_input_2() {
    let tight = "runbook \"tight\" {\n  rto = 30s\n  step w = wait { duration = 1m }\n}\n";
    Test::new()
        .file("t.runbook", tight)
        .args(&["run", "t.runbook"])
        .status(3)
        .stdout("NO")
        .run();
    let ssm = "runbook \"s\" {\n  step v = verify { instances = [\"i-1\"], checks = [\"ssm:uptime\"] }\n}\n";
    Test::new()
        .file("s.runbook", ssm)
        .args(&[
            "run",
            "s.runbook",
            "--backend",
            "aws",
            "--endpoint-url",
            "http://127.0.0.1:9",
        ])
        .status(2)
        // ssm: checks run on AWS now: this one gets as far as asking who the caller is.
        .stderr("cannot find out who the calls would be made as")
        .run();
    Test::new()
        .file("bad.runbook", "runbook \"b\" {\n  step w = wait {}\n}\n")
        .args(&["run", "bad.runbook"])
        .status(2)
        .stderr("missing the field `duration`")
        .run();
}

#[test]
fn ctrl_c_cancels_a_run() {
    let dir = tempfile::tempdir().expect("dir");
    std::fs::write(
        dir.path().join("slow.runbook"),
        "runbook \"slow\" {\n  step w = wait { duration = 30s }\n}\n",
    )
    .expect("write");
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_rebound"))
        .args(["run", "slow.runbook", "--realtime"])
        .current_dir(dir.path())
        .env("REBOUND_STATE_DIR", dir.path().join("state"))
        .env("REBOUND_HISTORY", dir.path().join("history.sqlite"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    std::thread::sleep(std::time::Duration::from_millis(700));
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let out = child.wait_with_output().expect("wait");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("slow (sim, recovery): cancelled"),
        "{stdout}"
    );
}

#[test]
fn sim_world_and_profile_files() {
    let world = r#"{"region": "eu-west-1", "images": [{"id": "ami-0aaa", "name": "web", "created": "2026-11-20T00:00:00Z", "state": "available", "tags": {"App": "web", "Safe": "True"}}], "subnets": {"subnet-1": "eu-west-1a"}}"#;
    let profile = r#"{"latency": {"run_instances": {"median": 2, "p99": 2}, "pending_to_running": {"median": 5, "p99": 5}, "describe": {"median": 0.5, "p99": 0.5}, "propagation": {"median": 1, "p99": 1}}}"#;
    let rb = "runbook \"w\" {\n  step img = find_image { tags = { App = \"web\" } }\n  step h = launch { image = img.id, subnet = \"subnet-1\", instance_types = [\"m5.large\"] }\n}\n";
    let (_, dir) = Test::new()
        .file("w.runbook", rb)
        .file("world.json", world)
        .file("profile.json", profile)
        .args(&[
            "run",
            "w.runbook",
            "--sim-world",
            "world.json",
            "--sim-profile",
            "profile.json",
            "--report-dir",
            "out",
        ])
        .run();
    let r: serde_json::Value = common::report(dir.path());
    assert_eq!(r["steps"][0]["outputs"]["id"], "ami-0aaa");
    // Zero-variance latencies: 0.5 s describe, then 2 s RunInstances + 5 s to running (the new
    // id seen after 1 s, well before).
    let rto = r["rto"]["measured_seconds"].as_f64().expect("rto");
    assert!((7.5..9.0).contains(&rto), "rto {rto}");
    Test::new()
        .file("w.runbook", rb)
        .file("profile.json", "{\"latency\": {\"nonsense\": 1}}")
        .args(&["run", "w.runbook", "--sim-profile", "profile.json"])
        .status(2)
        .stderr("not a valid simulator profile")
        .run();
    // An account lists each id once: a world that repeats one is refused, not half-answered.
    let image = r#"{"id": "ami-0aaa", "name": "web", "created": "2026-11-20T00:00:00Z", "state": "available", "tags": {}}"#;
    Test::new()
        .file("w.runbook", rb)
        .file(
            "world.json",
            format!(r#"{{"region": "eu-west-1", "images": [{image}, {image}]}}"#),
        )
        .args(&["run", "w.runbook", "--sim-world", "world.json"])
        .status(2)
        .stderr("not a valid simulator world: image `ami-0aaa` is listed twice")
        .run();
}

#[test]
fn run_rejects_a_future_declaration_and_a_broken_profile() {
    let rb = "runbook \"w\" {\n  step w = wait { duration = 1m }\n}\n";
    Test::new()
        .file("w.runbook", rb)
        .args(&["run", "w.runbook", "--declared-at", "2999-01-01T00:00:00Z"])
        .status(2)
        .stderr("is in the future")
        .run();
    Test::new()
        .file("w.runbook", rb)
        .file(
            "p.json",
            "{\"latency\": {\"boot\": {\"median\": 1e20, \"p99\": 1e21}}}",
        )
        .args(&["run", "w.runbook", "--sim-profile", "p.json"])
        .status(2)
        .stderr("latency.boot")
        .run();
}

#[test]
fn schedule_lists_the_next_drill_times_of_a_directory() {
    let web = common::example_text("web-tier");
    let (out, _) = Test::new()
        .file("dr/web.runbook", web)
        .file(
            "dr/none.runbook",
            "runbook \"adhoc\" {\n  step w = wait { duration = 1s }\n}\n",
        )
        .args(&[
            "schedule",
            "dr",
            "--after",
            "2026-11-22T05:00:00Z",
            "--count",
            "2",
            "--format",
            "json",
        ])
        .run();
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(rows[0]["runbook"], "adhoc");
    assert_eq!(rows[0]["next"], serde_json::json!([]));
    assert_eq!(rows[1]["schedule"], "0 3 * * 0");
    assert_eq!(
        rows[1]["next"],
        serde_json::json!(["2026-11-29T03:00:00Z", "2026-12-06T03:00:00Z"])
    );
}

#[test]
fn schedule_in_a_zone_lists_utc_times_and_names_the_zone() {
    let web = common::example_text("web-tier");
    let web = web.replace("\"0 3 * * 0\"", "\"TZ=Europe/Berlin 0 3 * * 0\"");
    assert!(
        web.contains("TZ=Europe/Berlin"),
        "the example's schedule moved"
    );
    Test::new()
        .file("web.runbook", web)
        .args(&[
            "schedule",
            "web.runbook",
            "--after",
            "2026-11-22T05:00:00Z",
            "--count",
            "1",
        ])
        .stdout("\"0 3 * * 0\" Europe/Berlin")
        .stdout("2026-11-29T02:00:00Z")
        .run();
    Test::new()
        .file(
            "bad.runbook",
            "runbook \"b\" {\n  schedule = \"TZ=Europe/Berlim 0 3 * * 0\"\n  step w = wait { duration = 1s }\n}\n",
        )
        .args(&["check", "bad.runbook"])
        .status(2)
        .stderr("unknown time zone `Europe/Berlim`")
        .run();
}

#[test]
fn completions_for_every_shell() {
    for (shell, marker) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef rebound"),
        ("fish", "complete -c rebound"),
        ("powershell", "Register-ArgumentCompleter"),
    ] {
        let (out, _) = Test::new().args(&["completions", shell]).run();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains(marker), "{shell}: {text}");
        assert!(
            text.contains("teardown") && text.contains("history"),
            "{shell}: subcommands missing"
        );
    }
}

#[test]
fn check_of_a_clean_file_prints_exactly_one_line() {
    Test::new()
        .file("g.runbook", GOOD)
        .args(&["check", "g.runbook"])
        .stdout_exact("ok: g.runbook (runbook \"g\", 1 steps in 0 paths)\n")
        .stderr_exact("")
        .run();
}

#[test]
fn a_bad_runbook_is_rendered_with_position_line_caret_and_hint() {
    Test::new()
        .file("b.runbook", "runbook \"b\" {\n  step s = lanch {}\n}\n")
        .args(&["check", "b.runbook"])
        .status(2)
        .stdout_exact("")
        .stderr_exact(
            "error[unknown-action]: b.runbook:2:12: unknown action `lanch`
 --> b.runbook:2:12
  |
2 |   step s = lanch {}
  |            ^^^^^ not an action
  |
  = help: did you mean `launch`?

error: b.runbook: 1 problem found
",
        )
        .run();
}

/// A journal that cannot be read is a broken state file, not the user's bad input: exit 1,
/// naming the file and line.
#[test]
fn a_corrupt_journal_fails_with_exit_1_not_as_bad_input() {
    Test::new()
        .file("state/20261201T000000Z-abcd.journal", "garbage\n")
        .args(&["resume", "20261201T000000Z-abcd"])
        .status(1)
        .stderr_exact(
            "error: {dir}/state/20261201T000000Z-abcd.journal:1: not a journal record: expected \
             value at line 1 column 1\n",
        )
        .run();
}

/// A backup older than the RPO is restored all the same, and the miss is the run's exit code
/// and a line of its summary naming the artifact.
#[test]
fn a_backup_older_than_the_rpo_is_restored_and_the_miss_exits_3() {
    Test::new()
        .file(
            "r.runbook",
            "runbook \"r\" {\n  rpo = 1m\n  step img = find_image { tags = { App = \"web\" } }\n}\n",
        )
        .args(&["run", "r.runbook"])
        .status(3)
        .stdout("rpo missed: img used ami-")
        .stdout("over the rpo of 1m00s")
        .run();
}

/// `max_age` refuses what `rpo` does not: the step fails when every candidate is older.
#[test]
fn max_age_refuses_older_backups() {
    Test::new()
        .file(
            "r.runbook",
            "runbook \"r\" {\n  step img = find_image { tags = { App = \"web\" }, max_age = 1m }\n}\n",
        )
        .args(&["run", "r.runbook"])
        .status(1)
        .stdout("failed: img: no usable image")
        .stdout("older than max_age (1m00s)")
        .run();
}

/// A report directory that cannot be written is found before anything is made: one line, exit
/// 2, no journal, no history record.
#[test]
fn an_unwritable_report_dir_stops_the_run_before_it_starts() {
    let (_, dir) = Test::new()
        .file("g.runbook", GOOD)
        .file("a-file", "not a directory")
        .args(&["run", "g.runbook", "--report-dir", "a-file/out"])
        .status(2)
        .stdout_exact("")
        .stderr("error: --report-dir a-file/out: cannot write there (")
        .stderr("nothing was started")
        .run();
    common::nothing_was_made(dir.path());
}

/// No credentials: one line naming STS and what to check, exit 2, and nothing made (no
/// journal, no history record) instead of every step failing after its retries.
#[test]
fn without_aws_credentials_a_run_stops_before_anything_is_made() {
    let (out, dir) = Test::new()
        .file("g.runbook", GOOD)
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_PROFILE", "rebound-test-no-such-profile")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        // Loopback: should credentials resolve anyway, no request leaves this machine.
        .args(&[
            "run",
            "g.runbook",
            "--backend",
            "aws",
            "--region",
            "us-east-1",
            "--endpoint-url",
            "http://127.0.0.1:9",
        ])
        .status(2)
        .stdout_exact("")
        .stderr(
            "error: AWS: cannot find out who the calls would be made as (STS GetCallerIdentity): ",
        )
        .stderr("nothing was started")
        .run();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(
        !stderr.contains("ConnectorError") && !stderr.contains(" { "),
        "AWS's words, not Rust's Debug: {stderr}"
    );
    common::nothing_was_made(dir.path());
}

/// An approval says who gave it (the flag, and the user who gave the flag) and when on the wall
/// clock, even on the simulator's virtual one.
#[test]
fn an_approval_records_who_and_the_wall_clock_time() {
    let before = chrono::Utc::now() - chrono::TimeDelta::seconds(1);
    let (_, dir) = Test::new()
        .env("USER", "oncall-ana")
        .args(&[
            "run",
            &common::example("region-recovery"),
            "--approve",
            "--report-dir",
            "out",
        ])
        .run();
    let after = chrono::Utc::now() + chrono::TimeDelta::seconds(1);
    let r = common::report(dir.path());
    let approval = &r["approvals"][0];
    assert!(
        approval["by"]
            .as_str()
            .is_some_and(|b| b.starts_with("--approve, given by oncall-ana@")),
        "{approval}"
    );
    let at: chrono::DateTime<chrono::Utc> = approval["at"]
        .as_str()
        .and_then(|t| t.parse().ok())
        .expect("a time");
    assert!(before <= at && at <= after, "{at} is not when the run was");
}

/// The plain-line view says what a responder needs as it appears: the instances and their
/// addresses, and each check's progress.
#[test]
fn the_live_view_shows_instances_addresses_and_check_progress() {
    Test::new()
        .args(&["run", &common::example("web-tier"), "--drill"])
        .stderr(": running in us-east-1")
        .stderr(" 10.0.")
        .stderr("status_ok 1/")
        .run();
}

/// After each step, where its path stands: steps done, the time since t0 against the path's
/// RTO (missed, here: t0 was declared an hour before), and what it does or waits for, naming a
/// step of another path it needs.
#[test]
fn the_live_view_says_where_each_path_stands_against_its_rto() {
    let t0 = (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339();
    Test::new()
        .args(&[
            "run",
            &common::example("region-recovery"),
            "--approve",
            "--declared-at",
            &t0,
        ])
        .stderr("]   app 1/3 steps, 1h00m since t0: RTO 20m00s missed by 40m")
        .stderr("; app waits for db_ok (path database)")
        .stderr("]   database 5/5 steps, 1h")
        .stderr("; done")
        .stderr("] run: 1h00m since t0: RTO 30m00s missed by 30m")
        .status(3)
        .run();
}
