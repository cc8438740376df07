//! moto in server mode on a loopback port the kernel picks, for the tests that need a real AWS peer.
//! moto is installed by `./scripts/test` into target/moto-venv; without it these tests fail,
//! loudly. The account is seeded and inspected with boto3 (a real AWS SDK) through the scripts
//! in tests/peer, never through rebound.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

/// A latency model of moto's timeline for `--latency`: moto answers a create at once, where
/// AWS takes minutes, so the pollers' first looks (at the model's 10th percentile) come at once
/// too. Without it a copy on moto waits out AWS's minutes before the first look.
pub const FAST: &str = r#"{
  "pending_to_running": { "median": 0.05, "p99": 0.1 },
  "create_volume": { "median": 0.05, "p99": 0.1 },
  "attach_volume": { "median": 0.05, "p99": 0.1 },
  "copy_image": { "median": 0.05, "p99": 0.1 },
  "copy_snapshot": { "median": 0.05, "p99": 0.1 }
}"#;

/// The moto virtual environment: `REBOUND_MOTO_VENV` or target/moto-venv.
pub fn venv() -> PathBuf {
    let dir = std::env::var_os("REBOUND_MOTO_VENV")
        .map_or_else(|| super::root().join("target/moto-venv"), PathBuf::from);
    assert!(
        dir.join("bin/moto_server").exists(),
        "moto is not installed in {}: run ./scripts/test, which installs it",
        dir.display()
    );
    dir
}

/// A moto server on a free loopback port, stopped on drop.
pub struct Moto {
    child: Child,
    pub url: String,
}

impl Moto {
    pub fn start() -> Moto {
        use std::io::BufRead as _;
        let mut child = Command::new(venv().join("bin/python"))
            .arg(super::root().join("tests/peer/moto_server.py"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start moto's server");
        // Its first line is the port the kernel gave it.
        let mut line = String::new();
        let stdout = child.stdout.take().expect("moto's stdout");
        std::io::BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read moto's port");
        let port: u16 = line
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("moto did not start: it said {line:?}"));
        std::net::TcpStream::connect(("127.0.0.1", port))
            .unwrap_or_else(|e| panic!("moto is not listening on port {port}: {e}"));
        Moto {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }

    /// Runs one of tests/peer/*.py with the venv's Python; its stdout as JSON.
    pub fn python(&self, script: &str, args: &[&str]) -> serde_json::Value {
        let out = Command::new(venv().join("bin/python"))
            .arg(super::root().join("tests/peer").join(script))
            .arg(&self.url)
            .args(args)
            .envs(credentials())
            .output()
            .expect("run python");
        assert!(
            out.status.success(),
            "{script}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("json from python")
    }
}

impl Moto {
    /// Runs `rebound ARGS` in `dir` against this server: its credentials, journals in
    /// `dir/state`, `--endpoint-url` added to the commands that call AWS.
    pub fn rebound(
        &self,
        dir: &std::path::Path,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> std::process::Output {
        self.command(dir, args, env).output().expect("run rebound")
    }

    /// The command `rebound` runs, to spawn it (several at once).
    pub fn command(&self, dir: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> Command {
        let mut all: Vec<&str> = args.to_vec();
        if matches!(
            args.first(),
            Some(&"run" | &"resume" | &"teardown" | &"preflight")
        ) {
            all.extend(["--endpoint-url", &self.url]);
        }
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_rebound"));
        cmd.args(&all)
            .current_dir(dir)
            .envs(credentials())
            .env("NO_COLOR", "1")
            .env("REBOUND_STATE_DIR", dir.join("state"))
            .env("REBOUND_HISTORY", dir.join("history.sqlite"))
            .envs(env.iter().copied());
        cmd
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// moto accepts any credentials; these keep every SDK off the real default chain.
pub fn credentials() -> Vec<(&'static str, &'static str)> {
    vec![
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_SESSION_TOKEN", "testing"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
        ("AWS_CONFIG_FILE", "/dev/null"),
        ("AWS_SHARED_CREDENTIALS_FILE", "/dev/null"),
    ]
}
