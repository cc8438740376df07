//! `rebound schedule export`: systemd units, a crontab and Kubernetes objects made from
//! runbooks' schedules, read back the way their schedulers read them.

use crate::common;

use std::path::Path;

use common::Test;
use serde::Deserialize as _;

/// Weekdays and two days of the month (cron's OR of the two), in Berlin.
const EU: &str = "TZ=Europe/Berlin 30 2 1,15 * mon-fri";

/// The web-tier example under another name, with another schedule or none.
fn web(name: &str, schedule: Option<&str>) -> String {
    let text = common::example_text("web-tier");
    assert!(
        text.contains("\"0 3 * * 0\""),
        "the example's schedule moved"
    );
    let text = text.replace("runbook \"web-tier\"", &format!("runbook \"{name}\""));
    match schedule {
        Some(s) => text.replace("\"0 3 * * 0\"", &format!("\"{s}\"")),
        None => text
            .lines()
            .filter(|l| !l.trim_start().starts_with("schedule"))
            .map(|l| format!("{l}\n"))
            .collect(),
    }
}

/// A directory of three runbooks: weekly in UTC, `EU`, and one without a schedule.
fn three() -> Test {
    Test::new()
        .file("dr/web.runbook", web("web-tier", Some("0 3 * * 0")))
        .file("dr/eu.runbook", web("Web Tier (EU)", Some(EU)))
        .file("dr/adhoc.runbook", web("adhoc", None))
}

fn absolute(dir: &Path, file: &str) -> String {
    std::fs::canonicalize(dir.join(file))
        .expect("the runbook")
        .display()
        .to_string()
}

/// A unit file as systemd reads it: (section, key, value); comments and blank lines skipped.
fn ini(text: &str) -> Vec<(String, String, String)> {
    let mut section = String::new();
    let mut entries = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.to_string();
            continue;
        }
        let (key, value) = line
            .split_once('=')
            .unwrap_or_else(|| panic!("not KEY=VALUE: {line:?}"));
        entries.push((
            section.clone(),
            key.trim().to_string(),
            value.trim().to_string(),
        ));
    }
    entries
}

/// Every value of `key` in `section` (OnCalendar= may repeat).
fn values<'a>(ini: &'a [(String, String, String)], section: &str, key: &str) -> Vec<&'a str> {
    ini.iter()
        .filter(|(s, k, _)| s == section && k == key)
        .map(|(_, _, v)| v.as_str())
        .collect()
}

#[test]
fn systemd_writes_a_service_and_a_timer_per_scheduled_runbook() {
    let (_, dir) = three()
        .args(&[
            "schedule",
            "export",
            "dr",
            "--format",
            "systemd",
            "--out",
            "units",
            "--rebound",
            "/opt/rebound/bin/rebound",
            "--report-dir",
            "/var/lib/rebound/reports",
        ])
        .stdout("wrote units/rebound-drill-web-tier.timer")
        .stderr("runbook `adhoc` has no schedule; skipped")
        .run();
    let units = dir.path().join("units");
    let mut names: Vec<String> = std::fs::read_dir(&units)
        .expect("units")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "rebound-drill-web-tier-eu.service",
            "rebound-drill-web-tier-eu.timer",
            "rebound-drill-web-tier.service",
            "rebound-drill-web-tier.timer",
            // A drilled runbook's readiness, hourly by default.
            "rebound-ready-web-tier-eu.service",
            "rebound-ready-web-tier-eu.timer",
            "rebound-ready-web-tier.service",
            "rebound-ready-web-tier.timer",
        ]
    );
    let unit = |name: &str| ini(&std::fs::read_to_string(units.join(name)).expect("a unit"));
    for name in &names {
        for (section, key, _) in unit(name) {
            assert!(
                ["Unit", "Service", "Timer", "Install"].contains(&section.as_str()),
                "{name}: {key} outside a known section ({section:?})"
            );
        }
    }

    let service = unit("rebound-drill-web-tier-eu.service");
    assert_eq!(values(&service, "Service", "Type"), ["oneshot"]);
    assert_eq!(
        values(&service, "Service", "ExecStart"),
        [format!(
            "/opt/rebound/bin/rebound run {} --drill --backend aws \
             --report-dir /var/lib/rebound/reports/web-tier-eu",
            absolute(dir.path(), "dr/eu.runbook")
        )]
    );
    assert!(values(&service, "Unit", "Description")[0].contains("Web Tier (EU)"));

    let timer = unit("rebound-drill-web-tier-eu.timer");
    assert_eq!(
        values(&timer, "Timer", "OnCalendar"),
        [
            "Mon..Fri *-*-* 02:30:00 Europe/Berlin",
            "*-*-01,15 02:30:00 Europe/Berlin"
        ]
    );
    assert_eq!(values(&timer, "Timer", "Persistent"), ["true"]);
    assert_eq!(values(&timer, "Install", "WantedBy"), ["timers.target"]);

    let timer = unit("rebound-drill-web-tier.timer");
    assert_eq!(
        values(&timer, "Timer", "OnCalendar"),
        ["Sun *-*-* 03:00:00 UTC"]
    );

    // The readiness check: preflight, recorded, no report, every hour.
    let ready = unit("rebound-ready-web-tier-eu.service");
    assert_eq!(
        values(&ready, "Service", "ExecStart"),
        [format!(
            "/opt/rebound/bin/rebound preflight {} --record --backend aws",
            absolute(dir.path(), "dr/eu.runbook")
        )]
    );
    assert!(values(&ready, "Unit", "Description")[0].contains("readiness check"));
    let timer = unit("rebound-ready-web-tier-eu.timer");
    assert_eq!(values(&timer, "Timer", "OnCalendar"), ["*-*-* *:00:00 UTC"]);
}

#[test]
fn cron_lines_are_five_fields_then_flock_under_their_zone() {
    let (out, dir) = three()
        .args(&[
            "schedule",
            "export",
            "dr",
            "--format",
            "cron",
            "--rebound",
            "/opt/rebound/bin/rebound",
        ])
        .stderr("adhoc")
        .run();
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    let jobs: Vec<usize> = (0..lines.len())
        .filter(|&i| {
            let l = lines[i];
            !l.is_empty() && !l.starts_with('#') && !l.starts_with("CRON_TZ=")
        })
        .collect();
    // Each runbook's drill, then its readiness check (hourly by default).
    assert_eq!(jobs.len(), 4, "{text}");
    for (i, zone, fields, file) in [
        (
            jobs[0],
            "Europe/Berlin",
            ["30", "2", "1,15", "*", "1-5"],
            "dr/eu.runbook",
        ),
        (jobs[2], "UTC", ["0", "3", "*", "*", "0"], "dr/web.runbook"),
    ] {
        // The zone line comes right before its job, so no job runs in another's zone.
        assert_eq!(lines[i - 1], format!("CRON_TZ={zone}"), "{text}");
        let words: Vec<&str> = lines[i].split_whitespace().collect();
        assert_eq!(words[..5], fields, "{text}");
        let file = absolute(dir.path(), file);
        assert_eq!(
            words[5..],
            [
                "flock",
                "-n",
                file.as_str(),
                "/opt/rebound/bin/rebound",
                "run",
                file.as_str(),
                "--drill",
                "--backend",
                "aws"
            ],
            "{text}"
        );
    }
    let ready: Vec<&str> = lines[jobs[1]].split_whitespace().collect();
    assert_eq!(lines[jobs[1] - 1], "CRON_TZ=UTC", "{text}");
    assert_eq!(ready[..5], ["0", "*", "*", "*", "*"], "{text}");
    // A lock of its own: checks never overlap, and never keep a drill due at the same minute
    // from starting.
    let eu = absolute(dir.path(), "dr/eu.runbook");
    let lock = format!("{eu}.readiness.lock");
    assert_eq!(
        ready[5..],
        [
            "flock",
            "-n",
            lock.as_str(),
            "/opt/rebound/bin/rebound",
            "preflight",
            eu.as_str(),
            "--record",
            "--backend",
            "aws"
        ],
        "{text}"
    );
}

#[test]
fn k8s_gives_a_configmap_and_a_cronjob_per_runbook() {
    let eu = web("Web Tier (EU)", Some(EU));
    let (out, _) = three()
        .args(&[
            "schedule",
            "export",
            "dr",
            "--format",
            "k8s",
            "--backend",
            "sim",
        ])
        .run();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let docs: Vec<serde_json::Value> = serde_norway::Deserializer::from_str(&text)
        .map(|doc| serde_json::Value::deserialize(doc).expect("a YAML document"))
        .collect();
    // A ConfigMap and a CronJob for each drill; no readiness check (a pod's local history,
    // where its records would go, is lost with the pod).
    assert_eq!(docs.len(), 4, "{text}");
    let find = |kind: &str, name: &str| {
        docs.iter()
            .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
            .unwrap_or_else(|| panic!("no {kind} {name} in\n{text}"))
    };

    let map = find("ConfigMap", "rebound-drill-web-tier-eu");
    assert_eq!(map["data"]["web-tier-eu.runbook"], eu.as_str());

    let job = find("CronJob", "rebound-drill-web-tier-eu");
    assert_eq!(job["apiVersion"], "batch/v1");
    let spec = &job["spec"];
    assert_eq!(spec["schedule"], "30 2 1,15 * 1-5");
    assert_eq!(spec["timeZone"], "Europe/Berlin");
    assert_eq!(spec["concurrencyPolicy"], "Forbid");
    assert_eq!(spec["startingDeadlineSeconds"], 3600);
    assert_eq!(spec["jobTemplate"]["spec"]["backoffLimit"], 0);
    let pod = &spec["jobTemplate"]["spec"]["template"]["spec"];
    assert_eq!(pod["restartPolicy"], "Never");
    let container = &pod["containers"][0];
    assert_eq!(container["image"], "ghcr.io/rebound/rebound:latest");
    assert_eq!(
        container["args"],
        serde_json::json!([
            "run",
            "/runbooks/web-tier-eu.runbook",
            "--drill",
            "--backend",
            "sim"
        ])
    );
    assert_eq!(container["volumeMounts"][0]["mountPath"], "/runbooks");
    assert_eq!(
        pod["volumes"][0]["configMap"]["name"],
        "rebound-drill-web-tier-eu"
    );

    let job = find("CronJob", "rebound-drill-web-tier");
    assert_eq!(job["spec"]["schedule"], "0 3 * * 0");
    assert_eq!(job["spec"]["timeZone"], "Etc/UTC");

    assert!(
        docs.iter()
            .all(|d| d["metadata"]["name"] != "rebound-ready-web-tier")
    );
}

#[test]
fn the_running_binary_is_the_default() {
    let (out, _) = Test::new()
        .file("web.runbook", web("web-tier", Some("0 3 * * 0")))
        .args(&["schedule", "export", "web.runbook", "--format", "cron"])
        .run();
    let text = String::from_utf8_lossy(&out.stdout);
    let job = text
        .lines()
        .find(|l| l.starts_with("0 3 "))
        .expect("a job line");
    let binary = job.split_whitespace().nth(8).expect("the binary");
    assert!(
        Path::new(binary).is_absolute() && binary.ends_with("rebound"),
        "{job}"
    );
}

#[test]
fn croner_extensions_are_refused_naming_the_runbook() {
    Test::new()
        .file("last.runbook", web("month-end", Some("0 3 L * *")))
        .args(&["schedule", "export", "last.runbook", "--format", "systemd"])
        .status(2)
        .stderr("runbook `month-end`")
        .stderr("`L`")
        .run();
}

#[test]
fn nothing_scheduled_exports_nothing() {
    let (out, _) = Test::new()
        .file("adhoc.runbook", web("adhoc", None))
        .args(&["schedule", "export", "adhoc.runbook", "--format", "k8s"])
        .stderr("nothing to export")
        .run();
    assert!(out.stdout.is_empty());
}

#[test]
fn schedule_still_lists_and_export_needs_a_format() {
    Test::new()
        .file("web.runbook", web("web-tier", Some("0 3 * * 0")))
        .args(&[
            "schedule",
            "web.runbook",
            "--after",
            "2026-11-22T05:00:00Z",
            "--count",
            "1",
        ])
        .stdout("2026-11-29T03:00:00Z")
        .run();
    Test::new()
        .file("web.runbook", web("web-tier", Some("0 3 * * 0")))
        .args(&["schedule", "export", "web.runbook"])
        .status(2)
        .stderr("--format")
        .run();
    Test::new().args(&["schedule"]).status(2).run();
}

#[test]
fn arguments_after_dashes_reach_every_run() {
    let (out, _) = three()
        .args(&[
            "schedule",
            "export",
            "dr",
            "--format",
            "cron",
            "--rebound",
            "/opt/rebound/bin/rebound",
            "--",
            "--history",
            "s3://dr-evidence/rebound",
        ])
        .run();
    let text = String::from_utf8_lossy(&out.stdout);
    let runs: Vec<&str> = text
        .lines()
        .filter(|l| !l.starts_with('#') && l.contains(" run "))
        .collect();
    assert_eq!(runs.len(), 2, "{text}");
    for line in runs {
        assert!(
            line.ends_with("--drill --backend aws --history s3://dr-evidence/rebound"),
            "{line}"
        );
    }
}
