//! What a report says, once, for every human-readable rendering: a title, a banner for
//! simulated runs, facts, tables and the timeline, built from the report model alone (so a
//! report read back from the history renders the same). `markdown` and `html` only lay it
//! out; neither decides what an auditor sees. A run's document leads with its verdict (met,
//! missed, failed, cancelled) and one gauge per target, so that the answer an auditor looks
//! for is the first thing on the page, in words that survive a black-and-white printer.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use super::report::Report;
use crate::duration::human;
use crate::exec::Outcome;

pub struct Doc {
    pub title: String,
    /// A run's verdict and headline, said before anything else; `None` for the trend.
    pub lead: Option<Lead>,
    /// Shown above everything: a simulated run is a rehearsal, not evidence.
    pub banner: Option<String>,
    pub blocks: Vec<Block>,
}

/// What a run's page says first.
pub struct Lead {
    /// What ran: `web-tier drill`.
    pub subject: String,
    pub verdict: Verdict,
    /// `Report::headline`: the outcome and every miss, in words.
    pub headline: String,
    /// Each failed step and its error, `web_ok: StatusCheckImpaired: ...`: why a failed run
    /// failed, without reading the steps' table.
    pub failures: Vec<String>,
}

/// The run in one word an auditor acts on. A run that succeeded but missed a target is not
/// `succeeded` here: that word was what a reader took for "all is well".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Succeeded, every target met (or none set).
    Met,
    /// Succeeded, but an RTO or RPO target was missed.
    Missed,
    Failed,
    Cancelled,
}

impl Verdict {
    pub fn of(r: &Report) -> Verdict {
        let missed = r.rto.met == Some(false)
            || r.rpo.met == Some(false)
            || r.paths.iter().any(|p| p.met == Some(false));
        match r.outcome {
            Outcome::Failed => Verdict::Failed,
            Outcome::Cancelled | Outcome::Skipped => Verdict::Cancelled,
            Outcome::Succeeded if missed => Verdict::Missed,
            Outcome::Succeeded => Verdict::Met,
        }
    }

    /// `met`, `missed`, `failed` or `cancelled`: the verdict as data.
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Met => "met",
            Verdict::Missed => "missed",
            Verdict::Failed => "failed",
            Verdict::Cancelled => "cancelled",
        }
    }

    /// The words of the title.
    pub fn words(self) -> &'static str {
        match self {
            Verdict::Met => "recovered, every target met",
            Verdict::Missed => "TARGETS MISSED",
            Verdict::Failed => "FAILED",
            Verdict::Cancelled => "CANCELLED",
        }
    }
}

/// One target against what was measured: a path's RTO, the run's RTO, the RPO.
pub struct Gauge {
    /// `path ami`, `run RTO`, `RPO`.
    pub name: String,
    pub measured: Option<f64>,
    pub target: Option<f64>,
    /// `None`: no target set, or nothing measured to hold it against.
    pub met: Option<bool>,
    /// What else a reader needs: the path's outcome when it did not succeed, the cloud bound.
    pub note: String,
}

impl Gauge {
    /// The verdict in words that need no colour: `✓ met`, `✗ MISSED`, `no target`.
    pub fn words(&self) -> &'static str {
        match (self.met, self.target, self.measured) {
            (Some(true), _, _) => "✓ met",
            (Some(false), _, _) => "✗ MISSED",
            (None, None, _) => "no target",
            (None, Some(_), None) => "✗ not measured",
            (None, Some(_), Some(_)) => "-",
        }
    }
}

pub enum Block {
    Heading(String),
    /// Name and value pairs.
    Facts(Vec<(String, String)>),
    Table {
        head: Vec<String>,
        rows: Vec<Vec<String>>,
    },
    Text(String),
    /// The steps on a time axis (Mermaid gantt in Markdown, SVG in HTML).
    Timeline(Timeline),
    /// Each target against its measure (a table in Markdown, bars in HTML).
    Gauges(Vec<Gauge>),
}

/// The steps as bars, in seconds from t0 (when the disaster was declared or the run began).
pub struct Timeline {
    pub lanes: Vec<Lane>,
    /// Vertical lines: a path's target or the run's.
    pub targets: Vec<Target>,
    /// The run's measured RTO, in seconds from t0: a solid line across every lane.
    pub measured: Option<f64>,
    /// The wall-clock time of t0, for Mermaid's absolute axis.
    pub t0: DateTime<Utc>,
}

pub struct Lane {
    /// The path's name, or `shared` for steps outside paths.
    pub name: String,
    pub bars: Vec<Bar>,
}

pub struct Bar {
    pub step: String,
    pub start: f64,
    pub end: f64,
    pub outcome: Outcome,
    pub critical: bool,
}

pub struct Target {
    pub label: String,
    /// Seconds from t0.
    pub at: f64,
    /// The lane it belongs to; `None` for the whole run.
    pub lane: Option<String>,
}

fn parse(t: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(t)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Seconds as a person reads them, or `-`.
pub(crate) fn secs(s: Option<f64>) -> String {
    s.map_or("-".to_string(), human)
}

/// A target in seconds as a person reads it, or `-`.
pub(crate) fn target(t: Option<u64>) -> String {
    t.map_or("-".to_string(), |t| human(t as f64))
}

/// A run-relative time: seconds after t0.
fn offset(t0: DateTime<Utc>, at: &Option<String>) -> Option<f64> {
    let t = parse(at.as_deref()?)?;
    Some((t - t0).num_milliseconds() as f64 / 1000.0)
}

impl Doc {
    pub(crate) fn of(r: &Report) -> Doc {
        let t0 = parse(&r.declared_at).unwrap_or_default();
        let mode = r.mode.name();
        let verdict = Verdict::of(r);
        let subject = format!("{} {mode}", r.runbook.name);
        let title = format!("{subject}: {}", verdict.words());
        let banner = r.simulated.then(|| {
            "Simulated run: a rehearsal on rebound's simulator, not evidence of recovery."
                .to_string()
        });
        let mut blocks = Vec::new();

        let mut facts = vec![
            ("run".to_string(), r.run_id.clone()),
            (
                "runbook".to_string(),
                format!(
                    "{} ({}, sha256 {})",
                    r.runbook.name, r.runbook.file, r.runbook.sha256
                ),
            ),
            ("backend".to_string(), backend(r)),
            ("declared".to_string(), r.declared_at.clone()),
            ("started".to_string(), r.started_at.clone()),
            ("finished".to_string(), r.finished_at.clone()),
            (
                "ran by".to_string(),
                format!(
                    "{}@{}, rebound {}",
                    r.ran_by.user, r.ran_by.host, r.rebound_version
                ),
            ),
            (
                "--approve".to_string(),
                if r.approve_flag { "yes" } else { "no" }.to_string(),
            ),
        ];
        if r.isolated {
            facts.push((
                "isolated".to_string(),
                "yes: its instances in a security group of their own, no public address"
                    .to_string(),
            ));
        }
        if let Some(d) = &r.digest {
            facts.push(("digest (sha256)".to_string(), d.clone()));
        }
        if let Some(p) = &r.previous_digest {
            facts.push(("previous digest".to_string(), p.clone()));
        }
        // The verdict's evidence first (targets, timeline), then who ran what where.
        blocks.push(Block::Heading("Targets".to_string()));
        blocks.push(Block::Gauges(gauges(r)));
        blocks.push(Block::Heading("Timeline".to_string()));
        blocks.push(Block::Timeline(timeline(r, t0)));
        blocks.push(Block::Heading("Run".to_string()));
        blocks.push(Block::Facts(facts));
        if !r.critical_path.is_empty() {
            blocks.push(Block::Heading("Critical path".to_string()));
            blocks.push(Block::Text(r.critical_path.join(" → ")));
        }

        let chosen: Vec<Vec<String>> = r
            .steps
            .iter()
            .filter(|s| s.action.starts_with("find_") && s.outcome == Outcome::Succeeded)
            .map(|s| {
                let id = s
                    .outputs
                    .get("id")
                    .or_else(|| s.outputs.get("arn"))
                    .and_then(|v| v.as_str())
                    .unwrap_or("-");
                let created = s
                    .outputs
                    .get("created")
                    .and_then(|v| v.as_str())
                    .unwrap_or("-");
                let age = s.outputs.get("age").and_then(serde_json::Value::as_f64);
                vec![
                    s.name.clone(),
                    id.to_string(),
                    created.to_string(),
                    secs(age),
                ]
            })
            .collect();
        if !chosen.is_empty() {
            blocks.push(Block::Heading("Artifacts chosen".to_string()));
            blocks.push(table(&["step", "chosen", "created", "age at t0"], chosen));
        }
        let rejected: Vec<Vec<String>> = r
            .steps
            .iter()
            .flat_map(|s| {
                s.rejected.iter().map(|c| {
                    vec![
                        s.name.clone(),
                        c.id.clone(),
                        c.created.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                        c.reason.clone(),
                    ]
                })
            })
            .collect();
        if !rejected.is_empty() {
            blocks.push(Block::Heading("Candidates rejected".to_string()));
            blocks.push(table(&["step", "candidate", "created", "why"], rejected));
        }

        blocks.push(Block::Heading("Steps".to_string()));
        let rows = r
            .steps
            .iter()
            .map(|s| {
                vec![
                    s.name.clone(),
                    s.path.clone().unwrap_or_else(|| "shared".to_string()),
                    s.action.clone(),
                    s.outcome.name().to_string(),
                    secs(offset(t0, &s.started_at)),
                    secs(s.duration_seconds),
                    s.attempts.to_string(),
                    s.error.clone().unwrap_or_default(),
                ]
            })
            .collect();
        blocks.push(table(
            &[
                "step", "path", "action", "outcome", "started", "took", "attempts", "error",
            ],
            rows,
        ));

        blocks.push(Block::Heading("Resources".to_string()));
        if r.resources.is_empty() {
            blocks.push(Block::Text("The run created no resources.".to_string()));
        } else {
            let rows = r
                .resources
                .iter()
                .map(|x| {
                    vec![
                        x.kind.clone(),
                        x.id.clone(),
                        x.step.clone(),
                        x.created_at.clone().unwrap_or_else(|| "-".to_string()),
                        x.deleted_at.clone().unwrap_or_else(|| "-".to_string()),
                        x.teardown.clone().unwrap_or_else(|| "kept".to_string()),
                    ]
                })
                .collect();
            blocks.push(table(
                &["kind", "id", "step", "created", "deleted", "teardown"],
                rows,
            ));
        }

        if !r.approvals.is_empty() {
            blocks.push(Block::Heading("Approvals".to_string()));
            let rows = r
                .approvals
                .iter()
                .map(|a| {
                    vec![
                        a.step.clone(),
                        a.by.clone(),
                        a.at.clone().unwrap_or_default(),
                    ]
                })
                .collect();
            blocks.push(table(&["step", "approved by", "at"], rows));
        }

        blocks.push(Block::Heading("API calls".to_string()));
        let rows = r
            .api_calls
            .iter()
            .map(|(op, n)| vec![op.clone(), n.to_string()])
            .collect();
        blocks.push(table(&["operation", "calls"], rows));

        Doc {
            title,
            lead: Some(Lead {
                subject,
                verdict,
                headline: r.headline(),
                failures: r
                    .steps
                    .iter()
                    .filter(|s| s.outcome == Outcome::Failed)
                    .map(|s| format!("{}: {}", s.name, s.error.as_deref().unwrap_or("failed")))
                    .collect(),
            }),
            banner,
            blocks,
        }
    }
}

/// A gauge per path with a target or a measure, then the run's RTO and the RPO.
fn gauges(r: &Report) -> Vec<Gauge> {
    let mut out: Vec<Gauge> = r
        .paths
        .iter()
        .map(|p| Gauge {
            name: format!("path {}", p.name),
            measured: p.measured_seconds,
            target: p.rto_target_seconds.map(|t| t as f64),
            met: p.met,
            note: if p.outcome == Outcome::Succeeded {
                String::new()
            } else {
                format!("path {}", p.outcome.name())
            },
        })
        .collect();
    let bound = match (r.rto.measured_seconds, r.rto.bound_seconds) {
        (Some(m), Some(b)) if b > 0.0 => format!("cloud bound {}, x{:.3}", human(b), m / b),
        _ => String::new(),
    };
    out.push(Gauge {
        name: "run RTO".to_string(),
        measured: r.rto.measured_seconds,
        target: r.rto.target_seconds.map(|t| t as f64),
        met: r.rto.met,
        note: if r.outcome == Outcome::Succeeded {
            bound
        } else {
            format!("run {}", r.outcome.name())
        },
    });
    out.push(Gauge {
        name: "RPO".to_string(),
        measured: r.rpo.measured_seconds,
        target: r.rpo.target_seconds.map(|t| t as f64),
        met: r.rpo.met,
        note: String::new(),
    });
    out
}

fn backend(r: &Report) -> String {
    match (&r.aws, r.seed) {
        (Some(aws), _) => format!(
            "aws (account {}, region {}{})",
            aws.account.as_deref().unwrap_or("unknown"),
            aws.region.as_deref().unwrap_or("unknown"),
            aws.principal
                .as_deref()
                .map_or(String::new(), |p| format!(", as {p}"))
        ),
        (None, Some(seed)) => format!("{} (seed {seed})", r.backend),
        (None, None) => r.backend.clone(),
    }
}

fn table(head: &[&str], rows: Vec<Vec<String>>) -> Block {
    Block::Table {
        head: head.iter().map(|h| (*h).to_string()).collect(),
        rows,
    }
}

fn timeline(r: &Report, t0: DateTime<Utc>) -> Timeline {
    let mut lanes: Vec<Lane> = r
        .paths
        .iter()
        .map(|p| Lane {
            name: p.name.clone(),
            bars: Vec::new(),
        })
        .collect();
    let mut shared = Lane {
        name: "shared".to_string(),
        bars: Vec::new(),
    };
    // A thousand tiers are a thousand paths: each step's lane by name, not by a search.
    let lane_of: HashMap<&str, usize> = r
        .paths
        .iter()
        .enumerate()
        .map(|(i, p)| (p.name.as_str(), i))
        .collect();
    for s in &r.steps {
        let (Some(start), Some(end)) = (offset(t0, &s.started_at), offset(t0, &s.finished_at))
        else {
            continue;
        };
        let bar = Bar {
            step: s.name.clone(),
            start,
            end: end.max(start),
            outcome: s.outcome,
            critical: r.critical_path.contains(&s.name),
        };
        match s
            .path
            .as_deref()
            .and_then(|p| lane_of.get(p))
            .and_then(|&i| lanes.get_mut(i))
        {
            Some(lane) => lane.bars.push(bar),
            None => shared.bars.push(bar),
        }
    }
    if !shared.bars.is_empty() {
        lanes.insert(0, shared);
    }
    lanes.retain(|l| !l.bars.is_empty());
    let mut targets: Vec<Target> = r
        .paths
        .iter()
        .filter_map(|p| {
            Some(Target {
                label: format!("{} rto {}", p.name, human(p.rto_target_seconds? as f64)),
                at: p.rto_target_seconds? as f64,
                lane: Some(p.name.clone()),
            })
        })
        .collect();
    if let Some(t) = r.rto.target_seconds {
        targets.push(Target {
            label: format!("rto {}", human(t as f64)),
            at: t as f64,
            lane: None,
        });
    }
    Timeline {
        lanes,
        targets,
        measured: r.rto.measured_seconds,
        t0,
    }
}
