//! An integration-test builder in the style of casey/just's `Test`: a scratch directory with
//! files, a `rebound` command line, and expectations on status, stdout and stderr.

#![allow(dead_code)]

pub mod moto;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub struct Test {
    dir: tempfile::TempDir,
    args: Vec<String>,
    env: Vec<(String, String)>,
    status: i32,
    stdout: Vec<String>,
    stderr: Vec<String>,
    /// The whole of stdout and stderr, when a test says exactly what they must be.
    stdout_exact: Option<String>,
    stderr_exact: Option<String>,
}

impl Test {
    pub fn new() -> Test {
        Test {
            dir: tempfile::tempdir().expect("a scratch directory"),
            args: Vec::new(),
            env: Vec::new(),
            status: 0,
            stdout: Vec::new(),
            stderr: Vec::new(),
            stdout_exact: None,
            stderr_exact: None,
        }
    }

    /// Writes a file into the scratch directory.
    pub fn file(self, name: &str, contents: impl AsRef<[u8]>) -> Test {
        let path = self.dir.path().join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create parent");
        }
        std::fs::write(path, contents).expect("write test file");
        self
    }

    pub fn arg(mut self, arg: &str) -> Test {
        self.args.push(arg.to_string());
        self
    }

    pub fn args(mut self, args: &[&str]) -> Test {
        self.args.extend(args.iter().map(|a| (*a).to_string()));
        self
    }

    pub fn env(mut self, key: &str, value: &str) -> Test {
        self.env.push((key.to_string(), value.to_string()));
        self
    }

    pub fn status(mut self, status: i32) -> Test {
        self.status = status;
        self
    }

    /// Stdout must contain this text.
    pub fn stdout(mut self, text: &str) -> Test {
        self.stdout.push(text.to_string());
        self
    }

    /// Stderr must contain this text.
    pub fn stderr(mut self, text: &str) -> Test {
        self.stderr.push(text.to_string());
        self
    }

    /// Stdout must be exactly this (`{dir}` stands for the scratch directory).
    pub fn stdout_exact(mut self, text: &str) -> Test {
        self.stdout_exact = Some(text.to_string());
        self
    }

    /// Stderr must be exactly this (`{dir}` stands for the scratch directory).
    pub fn stderr_exact(mut self, text: &str) -> Test {
        self.stderr_exact = Some(text.to_string());
        self
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Runs `rebound` in the scratch directory and checks every expectation; returns the
    /// output and the directory for further checks. A failed expectation is reported at the
    /// test's line (`track_caller`), with the whole command line and output.
    #[track_caller]
    pub fn run(self) -> (Output, tempfile::TempDir) {
        let output = Command::new(env!("CARGO_BIN_EXE_rebound"))
            .args(&self.args)
            .current_dir(self.dir.path())
            .env("NO_COLOR", "1")
            // Journals stay in the scratch directory, never in the user's state directory.
            .env("REBOUND_STATE_DIR", self.dir.path().join("state"))
            .env("REBOUND_HISTORY", self.dir.path().join("history.sqlite"))
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .output()
            .expect("run rebound");
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        let context = format!(
            "rebound {}\n--- status: {:?}\n--- stdout:\n{stdout}\n--- stderr:\n{stderr}",
            self.args.join(" "),
            output.status.code()
        );
        assert_eq!(output.status.code(), Some(self.status), "{context}");
        for want in &self.stdout {
            assert!(
                stdout.contains(want.as_str()),
                "stdout lacks {want:?}\n{context}"
            );
        }
        for want in &self.stderr {
            assert!(
                stderr.contains(want.as_str()),
                "stderr lacks {want:?}\n{context}"
            );
        }
        let dir = self.dir.path().display().to_string();
        if let Some(want) = &self.stdout_exact {
            assert_eq!(
                stdout,
                want.replace("{dir}", &dir),
                "stdout differs\n{context}"
            );
        }
        if let Some(want) = &self.stderr_exact {
            assert_eq!(
                stderr,
                want.replace("{dir}", &dir),
                "stderr differs\n{context}"
            );
        }
        assert!(!stderr.contains("panicked"), "rebound panicked\n{context}");
        (output, self.dir)
    }
}

/// The repository root (where Cargo.toml is).
/// A current-thread runtime on a paused clock, as rebound runs the simulator: a simulated hour
/// passes in no wall time.
pub fn paused_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .expect("runtime")
}

/// A runbook of `tiers` six-step tiers, from the generator the benchmarks use
/// (`scripts/gen-tiers.py`).
pub fn tiers(tiers: usize) -> String {
    let out = std::process::Command::new("python3")
        .arg(root().join("scripts/gen-tiers.py"))
        .arg(tiers.to_string())
        .output()
        .expect("python3 runs scripts/gen-tiers.py");
    assert!(out.status.success(), "gen-tiers.py failed");
    String::from_utf8(out.stdout).expect("utf-8")
}

pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The path of an example runbook, `runbooks/NAME.runbook`, as a command-line argument.
pub fn example(name: &str) -> String {
    root()
        .join(format!("runbooks/{name}.runbook"))
        .to_str()
        .expect("utf-8 path")
        .to_string()
}

/// The text of an example runbook, `runbooks/NAME.runbook`.
pub fn example_text(name: &str) -> String {
    std::fs::read_to_string(root().join(format!("runbooks/{name}.runbook"))).expect("example")
}

/// `rebound` in `dir`, its journals and history in `dir` too, without colour: for tests
/// that drive the process themselves (signals, pipes) rather than through `Test`.
pub fn rebound_in(dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rebound"));
    cmd.current_dir(dir)
        .env("REBOUND_STATE_DIR", dir.join("state"))
        .env("REBOUND_HISTORY", dir.join("history.sqlite"))
        .env("NO_COLOR", "1");
    cmd
}

/// The `report.json` a run wrote to `DIR/out`.
pub fn report(dir: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(dir.join("out/report.json")).expect("report.json");
    serde_json::from_str(&text).expect("report.json is JSON")
}

/// A command that stopped before it started left no journal and no history record in `dir`.
pub fn nothing_was_made(dir: &std::path::Path) {
    let journals = std::fs::read_dir(dir.join("state"))
        .map(|d| {
            d.flatten()
                .filter(|e| e.path().extension().is_some_and(|x| x == "journal"))
                .count()
        })
        .unwrap_or(0);
    assert_eq!(journals, 0, "no journal was made");
    assert!(!dir.join("history.sqlite").exists(), "no history record");
}

/// Every byte a run left in `dir` (reports, signatures, journal, history) and its output:
/// none may hold `needle` (a secret). Key files (`*.key`) are the secret's own place.
pub fn nowhere(dir: &Path, output: &Output, needle: &str) {
    let mut texts = vec![
        ("stdout".to_string(), output.stdout.clone()),
        ("stderr".to_string(), output.stderr.clone()),
    ];
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("dir").flatten() {
            let path = e.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_none_or(|x| x != "key") {
                texts.push((
                    path.display().to_string(),
                    std::fs::read(&path).expect("read"),
                ));
            }
        }
    }
    for (place, bytes) in texts {
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains(needle), "the secret is in {place}");
    }
}
