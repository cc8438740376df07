//! Monitoring through the binary: `rebound report --format prometheus` parsed back as
//! OpenMetrics and as Prometheus's text format, `--format emf` read as CloudWatch's Embedded
//! Metric Format, and `--stale AGE`, the dead-man switch, on a history of drills made to
//! measure (runs against AWS at known times and figures, a simulated run and a recovery that
//! must not count).

use crate::common::Test;
use crate::evidence::aws_report;

use chrono::{Duration, Utc};
use futures::FutureExt as _;
use openmetrics_parser::{MetricNumber, OpenMetricsType, OpenMetricsValue, PrometheusValue};
use rebound::evidence::history::{History as _, sqlite::Sqlite};
use rebound::evidence::report::{Mode, Report};

/// A runbook name that needs every escape a label value has.
const ODD: &str = "db \"main\" \\ eu";

/// A drill of `runbook` against AWS that finished `hours_ago`, with this RTO (the target is
/// 900 s: above it the drill did not pass).
fn drill(runbook: &str, run: &str, hours_ago: i64, rto: f64) -> Report {
    let finished = Utc::now() - Duration::hours(hours_ago);
    let started = finished - Duration::seconds(rto as i64);
    let mut r = aws_report(run, &started.to_rfc3339(), rto, 3600.0, 100.0, 100.0, true);
    r.runbook.name = runbook.to_string();
    r.finished_at = finished.to_rfc3339();
    r.rpo.met = Some(true);
    r
}

/// web-tier passed 10 days ago and missed its RTO 2 days ago; ODD passed an hour ago; a
/// simulated drill and a recovery of web-tier, both newer and passing, count for nothing.
fn history(t: Test) -> Test {
    let mut simulated = drill("web-tier", "sim", 0, 300.0);
    simulated.simulated = true;
    let mut recovery = drill("web-tier", "recovery", 0, 300.0);
    recovery.mode = Mode::Recovery;
    let reports = vec![
        drill("web-tier", "passed", 240, 300.0),
        drill("web-tier", "missed", 48, 1000.0),
        drill(ODD, "odd", 1, 200.0),
        simulated,
        recovery,
    ];
    let path = t.path("history.sqlite");
    let mut h = Sqlite::open(&path).expect("open");
    for mut r in reports {
        h.append(&mut r, None)
            .now_or_never()
            .expect("sqlite answers at once")
            .expect("append");
    }
    t
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn number(n: &MetricNumber) -> f64 {
    n.as_f64()
}

#[test]
fn prometheus_metrics_parse_back_as_openmetrics_and_as_prometheus_text() {
    let (out, _dir) = history(Test::new())
        .args(&["report", "--format", "prometheus"])
        .run();
    let text = stdout(&out);
    assert!(text.ends_with("# EOF\n"), "{text}");

    let om = openmetrics_parser::openmetrics::parse_openmetrics(&text)
        .unwrap_or_else(|e| panic!("not OpenMetrics: {e:?}\n{text}"));
    // Labels by name: the parser keeps a family's label names in an order of its own.
    let gauge = |family: &str, labels: &[&str]| -> Option<f64> {
        let f = om.families.get(family)?;
        assert_eq!(f.family_type, OpenMetricsType::Gauge, "{family}");
        let names = ["runbook", "outcome"];
        let sample = f.iter_samples().find(|s| {
            let set = s.get_labelset().expect("bound to its family");
            names
                .iter()
                .zip(labels)
                .all(|(n, v)| set.get_label_value(n) == Some(*v))
        })?;
        match &sample.value {
            OpenMetricsValue::Gauge(n) => Some(number(n)),
            other => panic!("{family}: not a gauge: {other:?}"),
        }
    };
    // The last drill of web-tier missed its RTO: it did not pass, though it succeeded.
    assert_eq!(gauge("rebound_drill_last_passed", &["web-tier"]), Some(0.0));
    assert_eq!(
        gauge("rebound_drill_last_outcome", &["web-tier", "succeeded"]),
        Some(1.0)
    );
    assert_eq!(
        gauge("rebound_drill_last_outcome", &["web-tier", "failed"]),
        Some(0.0)
    );
    assert_eq!(
        gauge("rebound_drill_last_rto_seconds", &["web-tier"]),
        Some(1000.0)
    );
    assert_eq!(
        gauge("rebound_drill_rto_target_seconds", &["web-tier"]),
        Some(900.0)
    );
    assert_eq!(
        gauge("rebound_drill_last_rpo_seconds", &["web-tier"]),
        Some(3600.0)
    );
    // Its last passing drill is the one of 10 days ago, not the simulated one or the recovery.
    let now = Utc::now().timestamp() as f64;
    let ten_days = 240.0 * 3600.0;
    let pass_at = gauge("rebound_drill_last_pass_timestamp_seconds", &["web-tier"]).expect("ts");
    assert!((now - ten_days - pass_at).abs() < 60.0, "{pass_at}");
    let age = gauge("rebound_drill_last_pass_age_seconds", &["web-tier"]).expect("age");
    assert!((age - ten_days).abs() < 60.0, "{age}");
    let last_at = gauge(
        "rebound_drill_last_finished_timestamp_seconds",
        &["web-tier"],
    );
    assert!((now - 48.0 * 3600.0 - last_at.expect("ts")).abs() < 60.0);
    // The odd name came back whole through the label escapes.
    assert_eq!(gauge("rebound_drill_last_passed", &[ODD]), Some(1.0));
    // Units as OpenMetrics wants them: declared, and the name's suffix.
    for (name, f) in &om.families {
        if name.ends_with("_seconds") {
            assert_eq!(f.unit, "seconds", "{name}");
        }
        assert!(!f.help.is_empty(), "{name} has no HELP");
    }

    // What node_exporter's textfile collector reads: Prometheus's text format.
    let prom = openmetrics_parser::prometheus::parse_prometheus(&text)
        .unwrap_or_else(|e| panic!("not Prometheus text: {e:?}\n{text}"));
    let family = prom
        .families
        .get("rebound_drill_last_rto_seconds")
        .expect("family");
    let sample = family
        .get_sample_by_label_values(&["web-tier".to_string()])
        .expect("sample");
    assert!(
        matches!(&sample.value, PrometheusValue::Gauge(n) if number(n) == 1000.0),
        "{:?}",
        sample.value
    );
    assert!(
        sample.timestamp.is_none(),
        "the textfile collector refuses timestamps"
    );
}

#[test]
fn a_runbook_never_drilled_is_in_the_metrics_as_never_passed() {
    let (out, _dir) = history(Test::new())
        .file(
            "dr/new.runbook",
            "runbook \"brand-new\" {\n  step w = wait { duration = 1s }\n}\n",
        )
        .args(&["report", "--format", "prometheus", "--runbooks", "dr"])
        .run();
    let text = stdout(&out);
    let om = openmetrics_parser::openmetrics::parse_openmetrics(&text).expect("OpenMetrics");
    let of = |family: &str| {
        om.families[family]
            .get_sample_by_label_values(&["brand-new".to_string()])
            .map(|s| match &s.value {
                OpenMetricsValue::Gauge(n) => number(n),
                other => panic!("{other:?}"),
            })
    };
    assert_eq!(of("rebound_drill_last_pass_timestamp_seconds"), Some(0.0));
    assert_eq!(
        of("rebound_drill_last_pass_age_seconds"),
        Some(f64::INFINITY)
    );
    assert_eq!(
        of("rebound_drill_last_passed"),
        None,
        "it has no last drill"
    );
}

#[test]
fn emf_lines_declare_exactly_the_metrics_they_carry() {
    let (out, _dir) = history(Test::new())
        .file(
            "dr/new.runbook",
            "runbook \"brand-new\" {\n  step w = wait { duration = 1s }\n}\n",
        )
        .args(&["report", "--format", "emf", "--runbooks", "dr"])
        .run();
    let text = stdout(&out);
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let by_name = |n: &str| {
        lines
            .iter()
            .find(|l| l["Runbook"] == n)
            .unwrap_or_else(|| panic!("no line of {n}:\n{text}"))
    };
    let now_ms = Utc::now().timestamp_millis();
    for line in &lines {
        let aws = &line["_aws"];
        let ts = aws["Timestamp"].as_i64().expect("Timestamp in ms");
        assert!((now_ms - ts).abs() < 60_000, "{ts}");
        let directive = &aws["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "Rebound");
        assert_eq!(directive["Dimensions"], serde_json::json!([["Runbook"]]));
        // Every declared metric is at the top level, a number (the format requires it).
        for m in directive["Metrics"].as_array().expect("Metrics") {
            let name = m["Name"].as_str().expect("Name");
            assert!(line[name].is_number(), "{name} declared, not there: {line}");
            assert!(
                ["Seconds", "None"].contains(&m["Unit"].as_str().expect("Unit")),
                "{m}"
            );
        }
        assert!(line["Runbook"].is_string(), "the dimension's value");
    }
    let web = by_name("web-tier");
    assert_eq!(web["LastDrillPassed"], 0.0);
    assert_eq!(web["LastDrillRTO"], 1000.0);
    assert_eq!(web["RTOTarget"], 900.0);
    assert_eq!(web["RunId"], "missed");
    let age = web["LastPassAge"].as_f64().expect("age");
    assert!((age - 240.0 * 3600.0).abs() < 60.0, "{age}");
    assert_eq!(by_name(ODD)["LastDrillPassed"], 1.0);
    // Never drilled: no figure to declare but none either of a passing drill, so an alarm
    // treating missing data as breaching fires.
    let new = by_name("brand-new");
    assert!(new.get("LastPassAge").is_none(), "{new}");
    assert_eq!(
        new["_aws"]["CloudWatchMetrics"][0]["Metrics"],
        serde_json::json!([])
    );
}

#[test]
fn stale_names_every_runbook_whose_last_pass_is_older_and_exits_1() {
    history(Test::new())
        .args(&["report", "--stale", "8d"])
        .status(1)
        .stdout("stale: web-tier: last passing drill ")
        .stdout(", 10d00h ago (more than 8d00h)")
        .stdout(&format!("ok: {ODD}: last passing drill "))
        .run();
    history(Test::new())
        .args(&["report", "--stale", "11d"])
        .stdout("ok: web-tier: last passing drill ")
        .run();
    // A runbook that should be drilled and never was is stale too.
    history(Test::new())
        .file(
            "dr/new.runbook",
            "runbook \"brand-new\" {\n  step w = wait { duration = 1s }\n}\n",
        )
        .args(&["report", "--stale", "11d", "--runbooks", "dr"])
        .status(1)
        .stdout("stale: brand-new: no passing drill in the history")
        .run();
    // Of one runbook only.
    history(Test::new())
        .args(&["report", "--stale", "8d", "--runbook", ODD])
        .stdout(&format!("ok: {ODD}: "))
        .run();
}

#[test]
fn stale_on_a_history_without_drills_is_not_quiet() {
    // Only a simulated drill: no evidence, so a dead-man switch pointed here must fire.
    let t = Test::new();
    let mut r = drill("web-tier", "sim", 0, 300.0);
    r.simulated = true;
    let mut h = Sqlite::open(&t.path("history.sqlite")).expect("open");
    h.append(&mut r, None)
        .now_or_never()
        .expect("at once")
        .expect("append");
    t.args(&["report", "--stale", "36h"])
        .status(1)
        .stdout("stale: no drill against AWS in the history ")
        .run();
    Test::new()
        .args(&["report", "--stale", "soon"])
        .status(2)
        .stderr("`soon` is not a duration")
        .run();
    Test::new()
        .args(&["report", "RUN", "--format", "emf"])
        .status(2)
        .stderr("figures per runbook")
        .run();
}
