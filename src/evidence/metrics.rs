//! Monitoring from the history: what a metrics system needs to watch drills without reading
//! reports. Per runbook, its last drill (outcome, whether it passed, RTO and RPO measured and
//! their targets, when it finished) and its last passing drill (when, how long ago), rendered
//! as OpenMetrics text for node_exporter's textfile collector and as CloudWatch Embedded
//! Metric Format lines for the CloudWatch agent; and `stale`, the runbooks whose last passing
//! drill is older than an age. That last one is the dead-man switch users asked for: a drill
//! that hangs for weeks writes no record at all, so only the absence of a recent pass shows
//! it, never a failure.
//!
//! What counts is what the trend counts: drills against AWS. A simulated drill is a rehearsal
//! and a recovery is not a drill; neither is a passing drill. A runbook the caller expects
//! (a file it names, a runbook the daemon schedules) with no drill in the history is listed
//! too, as never passed.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Map, Value, json};

use super::report::{Mode, Report};
use super::trend::in_window;
use crate::exec::Outcome;

/// Every runbook's watch, as of `at`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Metrics {
    pub at: DateTime<Utc>,
    pub runbooks: Vec<Watch>,
}

/// One runbook: its last drill and when a drill of it last passed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Watch {
    pub runbook: String,
    /// None: no drill of it in the history.
    pub last: Option<LastDrill>,
    /// When the last passing drill finished; None: none passed.
    pub last_pass: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LastDrill {
    pub run_id: String,
    pub outcome: Outcome,
    /// Succeeded with every target met (`Report::passed`).
    pub passed: bool,
    pub finished_at: DateTime<Utc>,
    pub rto_seconds: Option<f64>,
    pub rto_target_seconds: Option<u64>,
    pub rpo_seconds: Option<f64>,
    pub rpo_target_seconds: Option<u64>,
}

fn time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// The watch of every runbook drilled in `reports` (history order: a later record is a later
/// drill, or a later attempt of the same run), started at or after `since`, of runbook `only`
/// if given, plus each of `expected` not drilled at all.
pub fn compute(
    reports: &[Report],
    expected: &[String],
    since: Option<DateTime<Utc>>,
    only: Option<&str>,
    at: DateTime<Utc>,
) -> Metrics {
    let mut by_runbook: BTreeMap<String, Watch> = expected
        .iter()
        .filter(|n| only.is_none_or(|o| o == n.as_str()))
        .map(|n| {
            let watch = Watch {
                runbook: n.clone(),
                last: None,
                last_pass: None,
            };
            (n.clone(), watch)
        })
        .collect();
    let drills = reports
        .iter()
        .filter(|r| in_window(r, since, only) && !r.simulated && r.mode == Mode::Drill);
    for r in drills {
        // A record whose finish time cannot be read is passed over: it can only make a
        // runbook look staler, never fresher.
        let Some(finished_at) = time(&r.finished_at) else {
            continue;
        };
        let watch = by_runbook
            .entry(r.runbook.name.clone())
            .or_insert_with(|| Watch {
                runbook: r.runbook.name.clone(),
                last: None,
                last_pass: None,
            });
        let passed = r.passed();
        if passed {
            watch.last_pass = Some(watch.last_pass.map_or(finished_at, |t| t.max(finished_at)));
        }
        watch.last = Some(LastDrill {
            run_id: r.run_id.clone(),
            outcome: r.outcome,
            passed,
            finished_at,
            rto_seconds: r.rto.measured_seconds,
            rto_target_seconds: r.rto.target_seconds,
            rpo_seconds: r.rpo.measured_seconds,
            rpo_target_seconds: r.rpo.target_seconds,
        });
    }
    Metrics {
        at,
        runbooks: by_runbook.into_values().collect(),
    }
}

/// Seconds from `t` to `at`, never negative (a clock behind the drill's host).
fn age(at: DateTime<Utc>, t: DateTime<Utc>) -> f64 {
    ((at - t).num_milliseconds() as f64 / 1000.0).max(0.0)
}

impl Metrics {
    /// How long before `at` the last passing drill of `w` finished; None: none passed.
    pub fn pass_age(&self, w: &Watch) -> Option<f64> {
        w.last_pass.map(|t| age(self.at, t))
    }

    /// The runbooks whose last passing drill finished more than `max_age_seconds` before
    /// `at`, or that have none.
    pub fn stale(&self, max_age_seconds: u64) -> Vec<&Watch> {
        self.runbooks
            .iter()
            .filter(|w| self.pass_age(w).is_none_or(|a| a > max_age_seconds as f64))
            .collect()
    }

    /// OpenMetrics text (which Prometheus's text format reads too: `# UNIT` and `# EOF` are
    /// comments to it): gauges only, no sample timestamps (node_exporter's textfile collector
    /// refuses them), one `runbook` label, ending with `# EOF`.
    pub fn openmetrics(&self) -> String {
        let mut out = String::new();
        let drilled: Vec<(&Watch, &LastDrill)> = self
            .runbooks
            .iter()
            .filter_map(|w| Some((w, w.last.as_ref()?)))
            .collect();
        let each = |value: &dyn Fn(&LastDrill) -> Option<f64>| -> Vec<(String, f64)> {
            drilled
                .iter()
                .filter_map(|(w, l)| Some((labels(&[("runbook", &w.runbook)]), value(l)?)))
                .collect()
        };
        let outcomes: Vec<(String, f64)> = drilled
            .iter()
            .flat_map(|(w, l)| {
                [Outcome::Succeeded, Outcome::Failed, Outcome::Cancelled].map(|o| {
                    let l2 = labels(&[("runbook", &w.runbook), ("outcome", o.name())]);
                    (l2, f64::from(u8::from(l.outcome == o)))
                })
            })
            .collect();
        family(
            &mut out,
            "rebound_drill_last_outcome",
            None,
            "The outcome of the runbook's last drill against AWS: 1 for the one it had.",
            &outcomes,
        );
        family(
            &mut out,
            "rebound_drill_last_passed",
            None,
            "1 when the runbook's last drill succeeded with every RTO and RPO target met, else 0.",
            &each(&|l| Some(f64::from(u8::from(l.passed)))),
        );
        family(
            &mut out,
            "rebound_drill_last_finished_timestamp_seconds",
            Some("seconds"),
            "When the runbook's last drill finished (Unix time).",
            &each(&|l| Some(l.finished_at.timestamp() as f64)),
        );
        family(
            &mut out,
            "rebound_drill_last_rto_seconds",
            Some("seconds"),
            "The RTO the runbook's last drill measured (from t0 to the last path done).",
            &each(&|l| l.rto_seconds),
        );
        family(
            &mut out,
            "rebound_drill_rto_target_seconds",
            Some("seconds"),
            "The runbook's RTO target, as of its last drill.",
            &each(&|l| l.rto_target_seconds.map(|t| t as f64)),
        );
        family(
            &mut out,
            "rebound_drill_last_rpo_seconds",
            Some("seconds"),
            "The RPO the runbook's last drill measured (t0 minus its oldest backup's creation).",
            &each(&|l| l.rpo_seconds),
        );
        family(
            &mut out,
            "rebound_drill_rpo_target_seconds",
            Some("seconds"),
            "The runbook's RPO target, as of its last drill.",
            &each(&|l| l.rpo_target_seconds.map(|t| t as f64)),
        );
        let every = |value: &dyn Fn(&Watch) -> f64| -> Vec<(String, f64)> {
            self.runbooks
                .iter()
                .map(|w| (labels(&[("runbook", &w.runbook)]), value(w)))
                .collect()
        };
        family(
            &mut out,
            "rebound_drill_last_pass_timestamp_seconds",
            Some("seconds"),
            "When the runbook's last passing drill finished (Unix time); 0 when none passed.",
            &every(&|w| w.last_pass.map_or(0.0, |t| t.timestamp() as f64)),
        );
        family(
            &mut out,
            "rebound_drill_last_pass_age_seconds",
            Some("seconds"),
            "How long before these figures were written the last passing drill finished; +Inf when none passed.",
            &every(&|w| self.pass_age(w).unwrap_or(f64::INFINITY)),
        );
        family(
            &mut out,
            "rebound_metrics_timestamp_seconds",
            Some("seconds"),
            "When rebound wrote these figures (Unix time): the ages are as of then.",
            &[(String::new(), self.at.timestamp() as f64)],
        );
        out.push_str("# EOF\n");
        out
    }

    /// CloudWatch Embedded Metric Format: one JSON object a line per runbook, in namespace
    /// `Rebound` with the dimension `Runbook`. A figure there is none of (no target, no
    /// passing drill) is left out of the line and of its declaration, as the format requires
    /// of every declared metric that its value be there; an alarm on `LastPassAge` treats
    /// missing data as breaching.
    pub fn emf(&self) -> String {
        let mut out = String::new();
        for w in &self.runbooks {
            let mut values: Vec<(&str, &str, f64)> = Vec::new();
            let mut props = Map::new();
            props.insert("Runbook".to_string(), json!(w.runbook));
            if let Some(l) = &w.last {
                values.push(("LastDrillPassed", "None", f64::from(u8::from(l.passed))));
                values.push(("LastDrillAge", "Seconds", age(self.at, l.finished_at)));
                let seconds = [
                    ("LastDrillRTO", l.rto_seconds),
                    ("RTOTarget", l.rto_target_seconds.map(|t| t as f64)),
                    ("LastDrillRPO", l.rpo_seconds),
                    ("RPOTarget", l.rpo_target_seconds.map(|t| t as f64)),
                ];
                for (name, v) in seconds {
                    if let Some(v) = v {
                        values.push((name, "Seconds", v));
                    }
                }
                props.insert("RunId".to_string(), json!(l.run_id));
                props.insert("Outcome".to_string(), json!(l.outcome.name()));
                props.insert("LastDrillAt".to_string(), json!(l.finished_at.to_rfc3339()));
            }
            if let (Some(t), Some(a)) = (w.last_pass, self.pass_age(w)) {
                values.push(("LastPassAge", "Seconds", a));
                props.insert("LastPassAt".to_string(), json!(t.to_rfc3339()));
            }
            let declared: Vec<Value> = values
                .iter()
                .map(|(name, unit, _)| json!({ "Name": name, "Unit": unit }))
                .collect();
            for (name, _, v) in &values {
                props.insert((*name).to_string(), json!(v));
            }
            props.insert(
                "_aws".to_string(),
                json!({
                    "Timestamp": self.at.timestamp_millis(),
                    "CloudWatchMetrics": [{
                        "Namespace": "Rebound",
                        "Dimensions": [["Runbook"]],
                        "Metrics": declared,
                    }],
                }),
            );
            let _ = writeln!(out, "{}", Value::Object(props));
        }
        out
    }
}

/// `{name="value",...}` with OpenMetrics' escapes (backslash, double quote, line feed); empty
/// for no labels.
fn labels(pairs: &[(&str, &str)]) -> String {
    if pairs.is_empty() {
        return String::new();
    }
    let inner: Vec<String> = pairs
        .iter()
        .map(|(k, v)| {
            let v = v
                .replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('\n', "\\n");
            format!("{k}=\"{v}\"")
        })
        .collect();
    format!("{{{}}}", inner.join(","))
}

/// A value as OpenMetrics writes numbers: `+Inf` for infinity, else Rust's shortest form.
fn number(v: f64) -> String {
    if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.to_string()
    } else {
        format!("{v}")
    }
}

/// One gauge family: its metadata, then a sample per labelled value. A family without
/// samples is left out: OpenMetrics allows one, but parsers that group metadata lines up to
/// the first sample take the next family's lines for its own.
fn family(out: &mut String, name: &str, unit: Option<&str>, help: &str, samples: &[(String, f64)]) {
    if samples.is_empty() {
        return;
    }
    let _ = writeln!(out, "# TYPE {name} gauge");
    if let Some(unit) = unit {
        let _ = writeln!(out, "# UNIT {name} {unit}");
    }
    let _ = writeln!(out, "# HELP {name} {help}");
    for (labels, v) in samples {
        let _ = writeln!(out, "{name}{labels} {}", number(*v));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(
            labels(&[("runbook", "a\"b\\c\nd")]),
            r#"{runbook="a\"b\\c\nd"}"#
        );
        assert_eq!(labels(&[]), "");
    }

    #[test]
    fn numbers_in_openmetrics_form() {
        assert_eq!(number(f64::INFINITY), "+Inf");
        assert_eq!(number(300.0), "300");
        assert_eq!(number(0.25), "0.25");
    }
}
