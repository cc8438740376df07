//! `--notify URL`, tried as a drill owner uses it: a webhook (here a small HTTP server on
//! 127.0.0.1 that answers as it is told: a Slack that is down, a removed webhook, one that never
//! answers) is posted the run's verdict, its targets and where its report is; a webhook that
//! fails costs a warning and never the run's outcome; the URL, a secret, is in no output, log,
//! report, journal or history; and a URL that is not one stops the run before anything starts.

use crate::common::{self, Test};

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rebound::evidence::notify::{Delivery, Notice, Policy, Webhook, deliver};
use rebound::evidence::report::Report;

/// The secret part of every webhook URL here, as Slack's token is.
const TOKEN: &str = "T0DR1LL5/B0ALERTS/xoxSecretToken42";

/// What the webhook was sent.
#[derive(Debug, Clone)]
struct Request {
    line: String,
    headers: Vec<(String, String)>,
    body: String,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).expect("the body is JSON")
    }
}

/// How the webhook answers one request.
#[derive(Clone, Copy)]
enum Answer {
    Status(u16),
    /// Reads the request and never answers.
    Silence,
}

/// A webhook on 127.0.0.1 that gives `answers` in turn (the last one again once they run out)
/// and keeps every request.
struct Hook {
    url: String,
    requests: Arc<Mutex<Vec<Request>>>,
}

impl Hook {
    fn start(answers: &[Answer]) -> Hook {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let kept = Arc::clone(&requests);
        let answers = answers.to_vec();
        std::thread::spawn(move || {
            for (n, stream) in listener.incoming().enumerate() {
                let Ok(mut stream) = stream else { return };
                let answer = answers[n.min(answers.len() - 1)];
                let Some(request) = read(&mut stream) else {
                    continue;
                };
                kept.lock().expect("lock").push(request);
                match answer {
                    Answer::Status(code) => {
                        // A redirect names a place on this same server, so that following it
                        // would show as a second request.
                        let location = if (300..400).contains(&code) {
                            "location: /elsewhere\r\n"
                        } else {
                            ""
                        };
                        let reply = format!(
                            "HTTP/1.1 {code} Told\r\n{location}content-length: 2\r\nconnection: close\r\n\r\nok"
                        );
                        let _ = stream.write_all(reply.as_bytes());
                    }
                    // Held open, unanswered, until the client gives up; the next connection
                    // is taken meanwhile.
                    Answer::Silence => {
                        std::thread::spawn(move || {
                            std::thread::sleep(Duration::from_secs(5));
                            drop(stream);
                        });
                    }
                }
            }
        });
        Hook {
            url: format!("http://127.0.0.1:{port}/services/{TOKEN}"),
            requests,
        }
    }

    /// What is shown of the URL.
    fn shown(&self) -> String {
        let port = self.url.split(':').nth(2).and_then(|p| p.split('/').next());
        format!("http://127.0.0.1:{}/…", port.expect("port"))
    }

    fn requests(&self) -> Vec<Request> {
        self.requests.lock().expect("lock").clone()
    }
}

fn read(stream: &mut std::net::TcpStream) -> Option<Request> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':')?;
        headers.push((k.trim().to_string(), v.trim().to_string()));
    }
    let length: usize = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(Request {
        line: line.trim_end().to_string(),
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

/// A drill of web-tier notifying `hook` (by the flag, or as the daemon's drills inherit it, by
/// REBOUND_NOTIFY_URL); its status is checked by the caller.
fn drill(hook: &Hook, by_env: bool) -> Test {
    let web = common::example("web-tier");
    let test = Test::new()
        .args(&[
            "-vvv",
            "run",
            &web,
            "--drill",
            "--seed",
            "3",
            "--report-dir",
            "out",
        ])
        // A proxy of the machine's is not between the test and its webhook.
        .env("NO_PROXY", "127.0.0.1");
    if by_env {
        test.env("REBOUND_NOTIFY_URL", &hook.url)
    } else {
        test.args(&["--notify", &hook.url])
    }
}

#[test]
fn a_drill_tells_the_webhook_its_verdict_targets_and_report_after_a_retry() {
    // Slack down for one request, then back.
    let hook = Hook::start(&[Answer::Status(503), Answer::Status(200)]);
    let (output, dir) = drill(&hook, false)
        .stderr(&format!("notified {} (HTTP 200, attempt 2)", hook.shown()))
        .run();
    let requests = hook.requests();
    assert_eq!(requests.len(), 2, "{requests:?}");
    let request = &requests[1];
    assert_eq!(request.line, format!("POST /services/{TOKEN} HTTP/1.1"));
    assert_eq!(request.header("content-type"), Some("application/json"));
    let body = request.json();
    let text = body["text"]
        .as_str()
        .expect("text: what Slack and Teams show");
    assert!(
        text.starts_with("✓ web-tier drill: recovered, every target met"),
        "{text}"
    );
    assert!(
        text.contains("Simulated run"),
        "a rehearsal says so: {text}"
    );
    assert!(text.contains("run RTO: "), "{text}");
    assert!(text.contains(": ✓ met"), "{text}");
    let facts = &body["rebound"];
    let report = common::report(dir.path());
    assert_eq!(facts["run_id"], report["run_id"]);
    assert_eq!(facts["verdict"], "met");
    assert_eq!(facts["outcome"], "succeeded");
    assert_eq!(facts["mode"], "drill");
    assert_eq!(facts["simulated"], true);
    let names: Vec<&str> = facts["targets"]
        .as_array()
        .expect("targets")
        .iter()
        .map(|t| t["name"].as_str().expect("name"))
        .collect();
    assert_eq!(names, ["path ami", "path snapshot", "run RTO", "RPO"]);
    assert_eq!(
        facts["targets"][2]["measured_seconds"],
        report["rto"]["measured_seconds"]
    );
    // Where the report is, as a reader elsewhere finds it.
    let place = facts["report"].as_str().expect("report place");
    assert!(
        std::path::Path::new(place).is_absolute(),
        "absolute: {place}"
    );
    assert!(
        std::path::Path::new(place).join("report.html").exists(),
        "{place}"
    );
    let host = report["ran_by"]["host"].as_str().expect("host");
    assert!(
        text.contains(&format!("report: {place}/report.html on {host}")),
        "{text}"
    );
    assert!(
        !text.contains("\n\nsucceeded\n\n"),
        "no headline that only repeats the title: {text}"
    );
    assert!(
        text.contains("path snapshot: ") && text.contains(" (no target)"),
        "{text}"
    );
    assert_eq!(
        facts["history"]
            .as_str()
            .map(|h| h.starts_with("record 1 in ")),
        Some(true)
    );
    // The URL's secret part is nowhere: not in the output at trace level, not in a file.
    common::nowhere(dir.path(), &output, "xoxSecretToken42");
}

#[test]
fn a_missed_target_and_a_removed_webhook_cost_a_warning_not_the_outcome() {
    // A webhook that was removed answers 404: asking again changes nothing, so once.
    let hook = Hook::start(&[Answer::Status(404)]);
    let declared = (chrono::Utc::now() - chrono::Duration::hours(1))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let (output, dir) = drill(&hook, true)
        .args(&["--declared-at", &declared])
        // The run's own exit code: targets missed.
        .status(3)
        .stderr(&format!(
            "warning: could not notify {} (HTTP 404 Not Found, after 1 attempt); the run's outcome stands",
            hook.shown()
        ))
        .run();
    let requests = hook.requests();
    assert_eq!(requests.len(), 1, "{requests:?}");
    let body = requests[0].json();
    let text = body["text"].as_str().expect("text");
    assert!(
        text.starts_with("✗ web-tier drill: TARGETS MISSED"),
        "{text}"
    );
    assert!(text.contains("RTO missed: run "), "the headline: {text}");
    assert!(text.contains("✗ MISSED"), "{text}");
    assert_eq!(body["rebound"]["verdict"], "missed");
    let run_rto = &body["rebound"]["targets"][2];
    assert_eq!(run_rto["met"], false);
    assert_eq!(run_rto["target_seconds"], 900.0);
    common::nowhere(dir.path(), &output, "xoxSecretToken42");
}

#[test]
fn a_webhook_that_stays_down_is_tried_three_times_and_the_run_still_succeeds() {
    let hook = Hook::start(&[Answer::Status(500)]);
    drill(&hook, false)
        .stderr(&format!(
            "warning: could not notify {} (HTTP 500 Internal Server Error, after 3 attempts)",
            hook.shown()
        ))
        .run();
    assert_eq!(hook.requests().len(), 3);
}

#[test]
fn a_notify_url_that_is_not_a_webhook_is_bad_input_and_nothing_starts() {
    let web = common::example("web-tier");
    let (output, dir) = Test::new()
        .args(&[
            "run",
            &web,
            "--drill",
            "--notify",
            "ftp://hooks.example/xoxSecretToken42",
        ])
        .status(2)
        .stderr("error: --notify: a webhook is an http:// or https:// address, not ftp:")
        .run();
    common::nothing_was_made(dir.path());
    common::nowhere(dir.path(), &output, "xoxSecretToken42");
    let (output, _) = Test::new()
        .args(&[
            "run",
            &web,
            "--drill",
            "--notify",
            "hooks.example/xoxSecretToken42",
        ])
        .status(2)
        .stderr("error: --notify: not a URL")
        .run();
    assert!(!String::from_utf8_lossy(&output.stderr).contains("xoxSecretToken42"));
}

/// The report of a simulated drill of web-tier.
fn drilled() -> Report {
    let (_, dir) = Test::new()
        .args(&[
            "run",
            &common::example("web-tier"),
            "--drill",
            "--report-dir",
            "out",
        ])
        .run();
    let report = std::fs::read_to_string(dir.path().join("out/report.json")).expect("report");
    serde_json::from_str(&report).expect("a report")
}

fn notice() -> Notice {
    Notice::of(&drilled(), None, None)
}

#[test]
fn a_failed_run_is_told_with_each_failed_step_and_its_error() {
    let mut failed = drilled();
    failed.outcome = rebound::exec::Outcome::Failed;
    let web = failed
        .steps
        .iter_mut()
        .find(|s| s.name == "web_ok")
        .expect("web_ok");
    web.outcome = rebound::exec::Outcome::Failed;
    web.error = Some("StatusCheckImpaired: i-0abc".to_string());
    let notice = Notice::of(&failed, None, None);
    assert!(
        notice.text.starts_with("✗ web-tier drill: FAILED"),
        "{}",
        notice.text
    );
    assert!(
        notice
            .text
            .contains("✗ web_ok: StatusCheckImpaired: i-0abc"),
        "{}",
        notice.text
    );
    assert_eq!(notice.rebound.verdict, "failed");
    assert_eq!(
        notice.rebound.failures,
        ["web_ok: StatusCheckImpaired: i-0abc"]
    );
    // No report written, none named.
    assert!(!notice.text.contains("report: "), "{}", notice.text);
}

fn deliver_now(hook: &Hook, policy: Policy) -> Delivery {
    let webhook = Webhook::parse(&hook.url).expect("a webhook");
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(deliver(&webhook, &notice(), policy))
}

#[test]
fn each_attempt_has_its_timeout_and_a_redirect_is_not_followed() {
    let quick = Policy {
        attempts: 2,
        timeout: Duration::from_millis(300),
        backoff: Duration::from_millis(10),
    };
    let silent = Hook::start(&[Answer::Silence]);
    match deliver_now(&silent, quick) {
        Delivery::Failed { why, attempts } => {
            assert_eq!(attempts, 2);
            assert!(why.starts_with("timed out"), "{why}");
            assert!(!why.contains("xoxSecretToken42"), "{why}");
        }
        other => panic!("a silent webhook: {other:?}"),
    }
    assert_eq!(silent.requests().len(), 2);
    // A webhook that moved is one to fix: its new place is not posted to.
    let moved = Hook::start(&[Answer::Status(302)]);
    assert_eq!(
        deliver_now(&moved, quick),
        Delivery::Failed {
            why: "HTTP 302 Found".into(),
            attempts: 1
        }
    );
    assert_eq!(moved.requests().len(), 1);
    // Nothing listening: no post can have arrived, so it is tried again.
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let closed =
        Webhook::parse(&format!("http://127.0.0.1:{port}/services/{TOKEN}")).expect("a webhook");
    let delivery = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(deliver(&closed, &notice(), quick));
    match delivery {
        Delivery::Failed { why, attempts } => {
            assert_eq!(attempts, 2, "{why}");
            assert!(why.starts_with("cannot connect"), "{why}");
            assert!(!why.contains("xoxSecretToken42"), "{why}");
        }
        other => panic!("a closed port: {other:?}"),
    }
}
