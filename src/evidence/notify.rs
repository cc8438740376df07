//! Notifications: when a run ends, `--notify URL` posts its verdict, each target met or missed
//! and where its report is to a webhook, so that the channel a team watches hears of a missed
//! drill without anyone opening a report. The body is JSON that Slack's and Microsoft Teams'
//! incoming webhooks both take (their common field is `text`), with the same facts as data
//! under `rebound` for any other receiver.
//!
//! A notification is a courtesy, never part of the run: the run's outcome, its evidence and
//! its exit code are decided before it is sent, and a webhook that is down, slow or refuses it
//! costs a warning and at most [`Policy::STANDARD`]'s attempts and timeouts (Ctrl-C or SIGTERM
//! cut them short), never the run.
//! A webhook's URL is its credential (anyone holding a Slack webhook URL can post to the
//! channel): [`Webhook`] registers it as a secret, never shows more than its scheme and host,
//! and takes the URL out of every error the HTTP client words.

use std::time::Duration;

use serde::Serialize;

use super::document::{Doc, Verdict};
use super::report::Report;
use crate::secret::Secret;

/// A webhook to post to: its URL is a secret.
pub struct Webhook {
    url: Secret,
    /// What may be shown of it: `https://hooks.slack.com/…`.
    shown: String,
}

impl std::fmt::Debug for Webhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.shown)
    }
}

impl std::fmt::Display for Webhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.shown)
    }
}

/// Why a `--notify` URL cannot be used. The message never holds the URL.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("--notify: not a URL ({0}); give the webhook's whole https:// address")]
    NotAUrl(String),
    #[error("--notify: a webhook is an http:// or https:// address, not {0}:")]
    Scheme(String),
}

impl Webhook {
    /// Reads a `--notify` value. It is registered as a secret first, so that even a URL that
    /// is refused here reaches no log.
    pub fn parse(url: &str) -> Result<Webhook, WebhookError> {
        let url = Secret::new(url.trim().to_string());
        let parsed =
            reqwest::Url::parse(url.expose()).map_err(|e| WebhookError::NotAUrl(e.to_string()))?;
        match parsed.scheme() {
            "http" | "https" => {}
            other => return Err(WebhookError::Scheme(other.to_string())),
        }
        // The URL as the HTTP client may word it (normalized), and its path and query, where
        // Slack's and Teams' tokens are: registered too, so no form of it reaches a log.
        crate::secret::register(parsed.as_str());
        crate::secret::register(parsed.path());
        if let Some(q) = parsed.query() {
            crate::secret::register(q);
        }
        let host = parsed.host_str().unwrap_or_default();
        let port = parsed.port().map_or(String::new(), |p| format!(":{p}"));
        Ok(Webhook {
            shown: format!("{}://{host}{port}/…", parsed.scheme()),
            url,
        })
    }
}

/// How hard delivery tries: each attempt has `timeout` for the whole exchange; after a failure
/// that may pass (no connection, a timeout, HTTP 408, 429 or 5xx) it waits and tries again, up
/// to `attempts` in all. Any other answer is final: a 404 or 403 means the webhook was removed
/// or its token revoked, and asking again changes nothing. Any other transport error is final
/// too: the post may have arrived, and a second one would say it twice in the channel.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    pub attempts: u32,
    pub timeout: Duration,
    /// The wait before the second attempt; doubled before each later one. An answer's
    /// `Retry-After` (Slack sends one with a 429) stands instead, up to `timeout`.
    pub backoff: Duration,
}

impl Policy {
    /// What `--notify` uses: 3 attempts of at most 10 s, 1 s and 2 s apart (or as
    /// `Retry-After` says, at most 10 s): at most 50 s after the run's evidence is written,
    /// 33 s without `Retry-After`.
    pub const STANDARD: Policy = Policy {
        attempts: 3,
        timeout: Duration::from_secs(10),
        backoff: Duration::from_secs(1),
    };
}

/// What is posted.
#[derive(Debug, Clone, Serialize)]
pub struct Notice {
    /// For Slack and Teams: the verdict, each target, the failures and the report's place,
    /// one per paragraph (Teams joins single lines into one).
    pub text: String,
    /// The same, as data.
    pub rebound: Facts,
}

#[derive(Debug, Clone, Serialize)]
pub struct Facts {
    pub run_id: String,
    pub runbook: String,
    /// `drill` or `recovery`.
    pub mode: &'static str,
    /// `met`, `missed`, `failed` or `cancelled`: the report's verdict.
    pub verdict: &'static str,
    /// The run's outcome: `succeeded`, `failed`, `cancelled`.
    pub outcome: &'static str,
    pub simulated: bool,
    pub targets: Vec<TargetFact>,
    /// Each failed step and its error.
    pub failures: Vec<String>,
    /// Where the report files are (`--report-dir`, made absolute, on `ran_by.host`), if written.
    pub report: Option<String>,
    /// Where the run is recorded: `record 12 in history.sqlite`, if it was.
    pub history: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TargetFact {
    /// `path ami`, `run RTO`, `RPO`.
    pub name: String,
    pub measured_seconds: Option<f64>,
    pub target_seconds: Option<f64>,
    pub met: Option<bool>,
}

impl Notice {
    /// The notice of a finished run; `report` is where its files are, `history` where it is
    /// recorded. It says what the report's own page says first (`Doc`), in the same words.
    pub fn of(r: &Report, report: Option<String>, history: Option<String>) -> Notice {
        let doc = Doc::of(r);
        let lead = doc.lead.as_ref();
        let verdict = Verdict::of(r);
        let mark = match verdict {
            Verdict::Met => "✓",
            Verdict::Missed | Verdict::Failed | Verdict::Cancelled => "✗",
        };
        let mut paragraphs = vec![format!("{mark} {}", doc.title)];
        if let Some(banner) = &doc.banner {
            paragraphs.push(banner.clone());
        }
        // The headline when it says more than the title (a miss, resources left).
        if let Some(lead) = lead.filter(|l| l.headline != r.outcome.name()) {
            paragraphs.push(lead.headline.clone());
        }
        let gauges = doc.blocks.iter().find_map(|b| match b {
            super::document::Block::Gauges(g) => Some(g),
            _ => None,
        });
        let mut targets = Vec::new();
        for g in gauges.into_iter().flatten() {
            let measured = super::document::secs(g.measured);
            paragraphs.push(match g.target {
                Some(t) => format!(
                    "{}: {measured} against {}: {}",
                    g.name,
                    super::document::secs(Some(t)),
                    g.words()
                ),
                None => format!("{}: {measured} ({})", g.name, g.words()),
            });
            targets.push(TargetFact {
                name: g.name.clone(),
                measured_seconds: g.measured,
                target_seconds: g.target,
                met: g.met,
            });
        }
        let failures = lead.map_or_else(Vec::new, |l| l.failures.clone());
        paragraphs.extend(failures.iter().map(|f| format!("✗ {f}")));
        if let Some(dir) = &report {
            paragraphs.push(format!("report: {dir}/report.html on {}", r.ran_by.host));
        }
        if let Some(h) = &history {
            paragraphs.push(format!("history: {h}"));
        }
        paragraphs.push(format!("run {}", r.run_id));
        Notice {
            text: paragraphs.join("\n\n"),
            rebound: Facts {
                run_id: r.run_id.clone(),
                runbook: r.runbook.name.clone(),
                mode: r.mode.name(),
                verdict: verdict.name(),
                outcome: r.outcome.name(),
                simulated: r.simulated,
                targets,
                failures,
                report,
                history,
            },
        }
    }
}

/// How a delivery ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// The webhook answered 2xx, at this attempt.
    Delivered { status: u16, attempt: u32 },
    /// Given up: the last failure, in words without the URL, and the attempts made.
    Failed { why: String, attempts: u32 },
}

/// Posts `notice` to `hook`, trying as `policy` says; never fails, it says how it went.
/// Redirects are not followed: a webhook that moved is a webhook to fix, and the body (which
/// names the run's report) goes nowhere the user did not name.
pub async fn deliver(hook: &Webhook, notice: &Notice, policy: Policy) -> Delivery {
    let client = match reqwest::Client::builder()
        .timeout(policy.timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("rebound/", env!("CARGO_PKG_VERSION")))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            return Delivery::Failed {
                why: format!("no HTTP client: {}", e.without_url()),
                attempts: 0,
            };
        }
    };
    let mut wait = policy.backoff;
    let mut why = String::new();
    for attempt in 1..=policy.attempts.max(1) {
        let sent = client.post(hook.url.expose()).json(notice).send().await;
        let retry_after = match sent {
            Ok(answer) if answer.status().is_success() => {
                return Delivery::Delivered {
                    status: answer.status().as_u16(),
                    attempt,
                };
            }
            Ok(answer) => {
                let status = answer.status();
                why = format!("HTTP {status}");
                if !transient(status.as_u16()) {
                    return Delivery::Failed {
                        why,
                        attempts: attempt,
                    };
                }
                retry_after(&answer)
            }
            Err(e) => {
                why = wording(&e);
                if !(e.is_connect() || e.is_timeout()) {
                    return Delivery::Failed {
                        why,
                        attempts: attempt,
                    };
                }
                None
            }
        };
        if attempt < policy.attempts {
            tokio::time::sleep(retry_after.unwrap_or(wait).min(policy.timeout)).await;
            wait *= 2;
        }
    }
    Delivery::Failed {
        why,
        attempts: policy.attempts.max(1),
    }
}

/// An answer that may differ if asked again.
fn transient(status: u16) -> bool {
    matches!(status, 408 | 429) || (500..=599).contains(&status)
}

/// A `Retry-After` in seconds (Slack sends one with its 429s).
fn retry_after(answer: &reqwest::Response) -> Option<Duration> {
    let value = answer.headers().get(reqwest::header::RETRY_AFTER)?;
    let secs: u64 = value.to_str().ok()?.trim().parse().ok()?;
    Some(Duration::from_secs(secs))
}

/// A transport error in words, without the URL (reqwest's own wording names it).
fn wording(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else {
        "request failed"
    };
    let mut detail = String::new();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        detail = s.to_string();
        source = s.source();
    }
    // The innermost cause (`Connection refused`, a certificate's problem) says what to fix;
    // scrubbed in case a layer quoted the URL after all.
    if detail.is_empty() {
        kind.to_string()
    } else {
        format!("{kind}: {}", crate::secret::scrub(&detail))
    }
}
