//! Secrets never reach logs, journals, reports or history (issue 9). A drill on moto runs with
//! RUST_LOG=trace and LOG_SIGNABLE_BODY=true (the AWS SDK then traces every request it signs,
//! headers and body), fake credentials, a role assumed through STS, a secret
//! param given to an `exec` step and a user data: every byte rebound leaves behind is searched
//! for each secret, in the forms it travels in. The checker's rules for secret params are tested
//! through `rebound check` and `rebound run`.

use crate::common;

use std::path::Path;

use base64::Engine as _;
use common::Test;
use common::moto::Moto;
use sha2::Digest as _;

const TOKEN: &str = "tok-7f3a9c1e5b2d4f60aa";
const USER_DATA_SECRET: &str = "ud-secret-91b2c3d4e5f6a7b8";
const SECRET_KEY: &str = "fake-secret-key-0a1b2c3d4e5f";
const SESSION_TOKEN: &str = "fake-session-token-5e6f7a8b9c0d";

fn user_data() -> String {
    format!("#!/bin/sh\necho {USER_DATA_SECRET} > /etc/app.key\n")
}

/// A user data written into the runbook itself: kept out of records and logs, but part of the
/// runbook's text, which the journal keeps so that `resume` can check it again.
const LITERAL: &str = "literal-ud-3c4d5e6f7a8b9c0d";

fn runbook(subnet: &str) -> String {
    format!(
        r##"runbook "secrets" {{
  region = "us-east-1"
  role   = "arn:aws:iam::123456789012:role/rebound-restore"

  param token secret
  param bootstrap secret

  step image = find_image {{ owners = ["self"], tags = {{ App = "web" }} }}
  step web = launch {{
    image          = image.id
    subnet         = "{subnet}"
    instance_types = ["t3.micro"]
    user_data      = bootstrap
  }}
  step plain = launch {{
    image          = image.id
    subnet         = "{subnet}"
    instance_types = ["t3.micro"]
    user_data      = "#!/bin/sh\necho {LITERAL}\n"
  }}
  step hook = exec {{
    command = ["sh", "-c", "printf %s \"$TOKEN\" | sha256sum; echo token=$TOKEN"]
    env     = {{ TOKEN = token }}
  }}
}}
"##
    )
}

/// Every secret, in every form it could be written in: as is, base64 (how EC2 takes user
/// data), and the decimal bytes of either (how the SDK's trace prints a request body; the
/// form-encoding of base64 changes only `+`, `/` and `=`, so a run of its digits remains).
fn needles() -> Vec<(String, String)> {
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let decimal = |s: &str| {
        s.bytes()
            .map(|b| b.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut all = Vec::new();
    for (what, secret) in [
        ("secret param", TOKEN.to_string()),
        ("user data secret", USER_DATA_SECRET.to_string()),
        ("user data", user_data()),
        ("secret access key", SECRET_KEY.to_string()),
        ("session token", SESSION_TOKEN.to_string()),
    ] {
        // The first 16 characters of the base64: a run with no `+`, `/` or `=` in it here.
        let encoded: String = b64(&secret).chars().take(16).collect();
        all.push((format!("{what}, base64"), encoded.clone()));
        all.push((format!("{what}, base64 as traced bytes"), decimal(&encoded)));
        all.push((format!("{what} as traced bytes"), decimal(&secret)));
        all.push((what.to_string(), secret));
    }
    all
}

/// The report's record of step `name`.
fn step<'r>(report: &'r serde_json::Value, name: &str) -> &'r serde_json::Value {
    report["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no step {name}"))
}

/// Every file under `dir`, with its bytes.
fn files(dir: &Path, into: &mut Vec<(String, Vec<u8>)>) {
    for entry in std::fs::read_dir(dir).expect("read dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            files(&path, into);
        } else {
            let bytes = std::fs::read(&path).expect("read");
            into.push((path.display().to_string(), bytes));
        }
    }
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[test]
fn no_secret_reaches_logs_journals_reports_or_history() {
    let moto = Moto::start();
    let seeded = moto.python("seed_account.py", &[]);
    let subnet = seeded["subnet"].as_str().expect("subnet");
    for format in ["text", "json"] {
        let dir = tempfile::tempdir().expect("dir");
        std::fs::write(dir.path().join("s.runbook"), runbook(subnet)).expect("write");
        let out = moto.rebound(
            dir.path(),
            &[
                "run",
                "s.runbook",
                "--backend",
                "aws",
                "--drill",
                "--report-dir",
                "out",
                "--log-format",
                format,
            ],
            &[
                ("RUST_LOG", "trace"),
                // The SDK redacts request bodies in its trace unless told not to: told, the
                // user data is in the trace, and only the scrubbing keeps it out of the log.
                ("LOG_SIGNABLE_BODY", "true"),
                ("REBOUND_SECRET_TOKEN", TOKEN),
                ("REBOUND_SECRET_BOOTSTRAP", &user_data()),
                ("AWS_SECRET_ACCESS_KEY", SECRET_KEY),
                ("AWS_SESSION_TOKEN", SESSION_TOKEN),
            ],
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(0),
            "stdout:\n{}\nstderr (tail):\n{}",
            String::from_utf8_lossy(&out.stdout),
            &stderr[stderr.len().saturating_sub(4000)..]
        );
        // The trace really shows requests, or this test would prove nothing.
        for shown in ["RunInstances", "x-amz-security-token", "body: Bytes(["] {
            assert!(
                stderr.contains(shown),
                "{format}: the trace shows no {shown}"
            );
        }

        // The secret reached the program, and its echo was scrubbed from the output.
        let report = common::report(dir.path());
        let hook = step(&report, "hook");
        let stdout = hook["outputs"]["stdout"].as_str().expect("stdout");
        let digest = format!("{:x}", sha2::Sha256::digest(TOKEN.as_bytes()));
        assert!(stdout.starts_with(&digest), "{stdout}");
        assert!(stdout.contains("token=<secret>"), "{stdout}");
        for name in ["web", "plain"] {
            assert_eq!(step(&report, name)["inputs"]["user_data"], "<secret>");
        }
        assert_eq!(report["params"]["token"]["secret"], "token");

        let mut all = vec![
            ("stderr".to_string(), out.stderr.clone()),
            ("stdout".to_string(), out.stdout.clone()),
        ];
        files(dir.path(), &mut all);
        // The runbook itself holds the user data it was written with.
        all.retain(|(path, _)| !path.ends_with("s.runbook"));
        assert!(
            all.iter().any(|(p, _)| p.ends_with(".journal")),
            "a journal was written"
        );
        assert!(
            all.iter().any(|(p, _)| p.ends_with("history.sqlite")),
            "history was written"
        );
        for (what, needle) in needles() {
            for (file, bytes) in &all {
                assert!(
                    !contains(bytes, &needle),
                    "{format}: the {what} is in {file}"
                );
            }
        }
        // The literal user data: only where the runbook's text is kept.
        for (file, bytes) in &all {
            assert_eq!(
                contains(bytes, LITERAL),
                file.ends_with(".journal"),
                "{format}: the literal user data in {file}"
            );
        }
    }
}

#[test]
fn a_secret_param_is_refused_where_its_value_would_show() {
    Test::new()
        .file(
            "t.runbook",
            "runbook \"t\" {\n  param token secret\n  tags = { Token = token }\n}\n",
        )
        .args(&["check", "t.runbook"])
        .status(2)
        .stderr("error[secret]: t.runbook:3:20: secret param `token` cannot be used here")
        .stderr("a secret may only be an `exec` step's env value or a `launch` step's user_data")
        .run();
}

#[test]
fn a_secret_param_is_never_given_on_the_command_line() {
    Test::new()
        .file(
            "t.runbook",
            "runbook \"t\" {\n  param token secret\n  step s = exec { command = [\"true\"], env = { T = token } }\n}\n",
        )
        .args(&["check", "t.runbook", "--set", "token=abcdefghij"])
        .status(2)
        .stderr("error[secret]: t.runbook:2:9: --set token=...: `token` is a secret param")
        .stderr("export REBOUND_SECRET_TOKEN instead")
        .run();
}

#[test]
fn a_run_without_its_secret_stops_before_doing_anything() {
    let text = "runbook \"t\" {\n  param token secret\n  step s = exec { command = [\"true\"], env = { T = token } }\n}\n";
    // check and plan need no value: a runbook's CI has no secrets.
    Test::new()
        .file("t.runbook", text)
        .args(&["check", "t.runbook"])
        .status(0)
        .run();
    let (_, dir) = Test::new()
        .file("t.runbook", text)
        .args(&["run", "t.runbook", "--report-dir", "out"])
        .status(2)
        .stderr("error[missing-param-value]: t.runbook:2:9: secret param `token` has no value")
        .stderr("read from REBOUND_SECRET_TOKEN, which is not set")
        .run();
    assert!(!dir.path().join("out").exists(), "no report");
    assert!(!dir.path().join("state").exists(), "no journal");
    Test::new()
        .file("t.runbook", text)
        .args(&["run", "t.runbook"])
        .env("REBOUND_SECRET_TOKEN", "short")
        .status(2)
        .stderr("secret param `token` is shorter than 8 bytes")
        .run();
    let long = "x".repeat(rebound::runbook::limits::MAX_STRING_BYTES + 1);
    Test::new()
        .file("t.runbook", text)
        .args(&["run", "t.runbook"])
        .env("REBOUND_SECRET_TOKEN", &long)
        .status(2)
        .stderr("secret param `token` is longer than 65536 bytes")
        .run();
}

/// The journal keeps no secret, so `resume` reads it from the environment again: without it,
/// the resume stops before doing anything; with it, the run finishes.
#[test]
fn a_resume_reads_its_secrets_again() {
    let dir = tempfile::tempdir().expect("dir");
    std::fs::write(
        dir.path().join("t.runbook"),
        "runbook \"t\" {\n  param token secret\n  step a = wait { duration = 1m }\n  step s = exec { command = [\"true\"], env = { T = token }, after = [a] }\n}\n",
    )
    .expect("write");
    let crashed = common::rebound_in(dir.path())
        .args(["run", "t.runbook"])
        .env("REBOUND_SECRET_TOKEN", TOKEN)
        .env("REBOUND_CRASH_BEFORE_RECORD", "3")
        .output()
        .expect("run");
    assert_eq!(crashed.status.code(), None, "killed: {crashed:?}");
    let journal = std::fs::read_dir(dir.path().join("state"))
        .expect("state dir")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "journal"))
        .expect("a journal");
    let run = journal
        .file_stem()
        .and_then(|s| s.to_str())
        .expect("run id")
        .to_string();
    let without = common::rebound_in(dir.path())
        .args(["resume", &run])
        .env_remove("REBOUND_SECRET_TOKEN")
        .output()
        .expect("resume");
    assert_eq!(without.status.code(), Some(2), "{without:?}");
    assert!(
        String::from_utf8_lossy(&without.stderr).contains("REBOUND_SECRET_TOKEN, which is not set"),
        "{without:?}"
    );
    let with = common::rebound_in(dir.path())
        .args(["resume", &run])
        .env("REBOUND_SECRET_TOKEN", TOKEN)
        .output()
        .expect("resume");
    assert_eq!(with.status.code(), Some(0), "{with:?}");
    assert!(!contains(&std::fs::read(&journal).expect("journal"), TOKEN));
}
