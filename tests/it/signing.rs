//! Signed evidence, checked as an auditor checks it: keys made by the `minisign` tool itself,
//! a drill signed with `--sign-key`, each report file's signature verified by the tool (no
//! rebound involved), the history's signatures by `rebound history verify --pubkey`, and the
//! secret key, its password included, found in no output, log, report, journal or history.
//! The tool is installed by `./scripts/test` (`scripts/minisign-tool`); without it these tests
//! fail, never skip.

use crate::common::{self, Test};

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const FILES: [&str; 4] = ["report.json", "report.md", "report.html", "junit.xml"];
const PASSWORD: &str = "correct-horse-battery-staple";

/// The minisign tool: `REBOUND_MINISIGN`, or what `scripts/minisign-tool` installs.
fn tool() -> PathBuf {
    let tool = std::env::var_os("REBOUND_MINISIGN").map_or_else(
        || common::root().join("target/minisign/bin/minisign"),
        PathBuf::from,
    );
    assert!(
        tool.exists(),
        "the minisign tool is not installed at {}: run ./scripts/test (or scripts/minisign-tool), which installs it",
        tool.display()
    );
    tool
}

fn minisign(args: &[&str], stdin: &str) -> Output {
    use std::io::Write as _;
    let mut child = Command::new(tool())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run minisign");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    child.wait_with_output().expect("minisign ends")
}

/// A key pair made by `minisign -G` in `dir`: (secret key, public key). With a password, the
/// tool reads it twice from stdin.
fn keypair(dir: &Path, name: &str, password: Option<&str>) -> (PathBuf, PathBuf) {
    let (sk, pk) = (
        dir.join(format!("{name}.key")),
        dir.join(format!("{name}.pub")),
    );
    let (s, p) = (sk.to_str().expect("utf-8"), pk.to_str().expect("utf-8"));
    let out = match password {
        None => minisign(&["-G", "-W", "-s", s, "-p", p], ""),
        Some(pw) => minisign(&["-G", "-s", s, "-p", p], &format!("{pw}\n{pw}\n")),
    };
    assert!(out.status.success(), "minisign -G: {out:?}");
    (sk, pk)
}

/// The key material of a secret key file: every line but its comment.
fn key_lines(sk: &Path) -> Vec<String> {
    std::fs::read_to_string(sk)
        .expect("key")
        .lines()
        .skip(1)
        .map(str::to_string)
        .filter(|l| !l.trim().is_empty())
        .collect()
}

/// `minisign -Vm FILE -p PUB`: the tool's verdict and what it printed.
fn tool_verifies(file: &Path, pk: &Path) -> (bool, String) {
    let out = minisign(
        &[
            "-V",
            "-m",
            file.to_str().expect("utf-8"),
            "-p",
            pk.to_str().expect("utf-8"),
        ],
        "",
    );
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

fn history_verify(dir: &Path, pk: &Path) -> (Option<i32>, String) {
    let out = common::rebound_in(dir)
        .args(["history", "verify", "--pubkey"])
        .arg(pk)
        .output()
        .expect("run");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

fn sql(dir: &Path, statement: &str) {
    rusqlite::Connection::open(dir.join("history.sqlite"))
        .expect("open")
        .execute_batch(statement)
        .expect("sql");
}

#[test]
fn a_signed_drill_is_verified_by_the_minisign_tool_and_by_history_verify() {
    let keys = tempfile::tempdir().expect("dir");
    let (sk, pk) = keypair(keys.path(), "rebound", None);
    let (_, other) = keypair(keys.path(), "other", None);
    let web = common::example("web-tier");
    let sk_arg = sk.to_str().expect("utf-8");
    // At trace level, so that every log line is searched for the key too.
    let (output, dir) = Test::new()
        .args(&[
            "-vvv",
            "run",
            &web,
            "--drill",
            "--seed",
            "7",
            "--report-dir",
            "out",
            "--sign-key",
            sk_arg,
        ])
        .stdout("each signed: FILE.minisig beside it")
        .run();
    let report = common::report(dir.path());
    let (run_id, digest) = (
        report["run_id"].as_str().expect("run id"),
        report["digest"].as_str().expect("digest"),
    );
    for file in FILES {
        let path = dir.path().join("out").join(file);
        assert!(
            dir.path().join(format!("out/{file}.minisig")).exists(),
            "{file}.minisig"
        );
        let (ok, said) = tool_verifies(&path, &pk);
        assert!(ok, "minisign rejects {file}: {said}");
        let trusted = format!("Trusted comment: rebound {file} run {run_id} digest {digest}");
        assert!(said.contains(&trusted), "{said}");
        // Another key does not verify it.
        assert!(
            !tool_verifies(&path, &other).0,
            "{file} verifies with another key"
        );
    }
    // One byte changed and the tool says so.
    let json = dir.path().join("out/report.json");
    let edited =
        std::fs::read_to_string(&json)
            .expect("json")
            .replacen("\"succeeded\"", "\"succeedex\"", 1);
    std::fs::write(&json, edited).expect("edit");
    let (ok, said) = tool_verifies(&json, &pk);
    assert!(!ok, "an edited report.json verifies: {said}");

    // The history keeps the record's signature: the tool verifies it on the stored bytes.
    let conn = rusqlite::Connection::open(dir.path().join("history.sqlite")).expect("open");
    let (stored, signature): (String, String) = conn
        .query_row("SELECT report, signature FROM runs", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .expect("a signed record");
    drop(conn);
    let record = keys.path().join("record.json");
    std::fs::write(&record, &stored).expect("write");
    std::fs::write(keys.path().join("record.json.minisig"), &signature).expect("write");
    let (ok, said) = tool_verifies(&record, &pk);
    assert!(ok, "minisign rejects the history's signature: {said}");

    let (code, said) = history_verify(dir.path(), &pk);
    assert_eq!(code, Some(0), "{said}");
    assert!(
        said.contains("1 records, the chain holds, every record signed by this key"),
        "{said}"
    );
    let (code, said) = history_verify(dir.path(), &other);
    assert_eq!(code, Some(1), "{said}");
    assert!(said.contains("record 1 (run "), "{said}");
    assert!(
        said.contains("its signature does not verify with this key"),
        "{said}"
    );

    // A second signed run, then the two records' signatures swapped: each is a good signature,
    // of the other record.
    let out = common::rebound_in(dir.path())
        .args(["run", &web, "--drill", "--seed", "8", "--sign-key", sk_arg])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(history_verify(dir.path(), &pk).0, Some(0));
    let conn = rusqlite::Connection::open(dir.path().join("history.sqlite")).expect("open");
    let sig = |seq: i64| -> String {
        conn.query_row("SELECT signature FROM runs WHERE seq = ?1", [seq], |r| {
            r.get(0)
        })
        .expect("signed")
    };
    let (first, second) = (sig(1), sig(2));
    let set = |seq: i64, s: &str| {
        conn.execute(
            "UPDATE runs SET signature = ?1 WHERE seq = ?2",
            rusqlite::params![s, seq],
        )
        .expect("update");
    };
    set(1, &second);
    set(2, &first);
    let (code, said) = history_verify(dir.path(), &pk);
    assert_eq!(code, Some(1), "{said}");
    assert!(said.contains("record 1 (run "), "{said}");
    // Swapped back, then the second record's signature removed: unsigned breaks it too.
    set(1, &first);
    set(2, &second);
    assert_eq!(history_verify(dir.path(), &pk).0, Some(0));
    drop(conn);
    sql(dir.path(), "UPDATE runs SET signature = NULL WHERE seq = 2");
    let (code, said) = history_verify(dir.path(), &pk);
    assert_eq!(code, Some(1), "{said}");
    assert!(
        said.contains("record 2 (run ") && said.contains("it is not signed"),
        "{said}"
    );

    for line in key_lines(&sk) {
        common::nowhere(dir.path(), &output, &line);
    }
}

#[test]
fn an_unsigned_record_breaks_a_verify_with_a_public_key() {
    let keys = tempfile::tempdir().expect("dir");
    let (_, pk) = keypair(keys.path(), "rebound", None);
    let (_, dir) = Test::new()
        .args(&[
            "run",
            &common::example("web-tier"),
            "--drill",
            "--seed",
            "7",
        ])
        .run();
    let (code, said) = history_verify(dir.path(), &pk);
    assert_eq!(code, Some(1), "{said}");
    assert!(
        said.contains("record 1 (run ") && said.contains("it is not signed"),
        "{said}"
    );
}

#[test]
fn a_key_with_a_password_takes_it_from_the_environment_and_never_shows_it() {
    let keys = tempfile::tempdir().expect("dir");
    let (sk, pk) = keypair(keys.path(), "locked", Some(PASSWORD));
    let web = common::example("web-tier");
    let sk_arg = sk.to_str().expect("utf-8");
    let args = [
        "run",
        &web,
        "--drill",
        "--seed",
        "7",
        "--report-dir",
        "out",
        "--sign-key",
        sk_arg,
    ];
    // No password: refused before anything starts, saying what to do.
    let (_, dir) = Test::new()
        .args(&args)
        .status(2)
        .stderr("the key is protected by a password; set REBOUND_SIGN_KEY_PASSWORD")
        .run();
    common::nothing_was_made(dir.path());
    // A wrong one: refused too.
    let (_, dir) = Test::new()
        .args(&args)
        .env("REBOUND_SIGN_KEY_PASSWORD", "not-the-password-at-all")
        .status(2)
        .stderr("cannot be opened with REBOUND_SIGN_KEY_PASSWORD")
        .run();
    common::nothing_was_made(dir.path());
    // The right one, at trace level.
    let mut all = vec!["-vvv"];
    all.extend(args);
    let (output, dir) = Test::new()
        .args(&all)
        .env("REBOUND_SIGN_KEY_PASSWORD", PASSWORD)
        .run();
    let (ok, said) = tool_verifies(&dir.path().join("out/report.html"), &pk);
    assert!(ok, "{said}");
    assert_eq!(history_verify(dir.path(), &pk).0, Some(0));
    common::nowhere(dir.path(), &output, PASSWORD);
    for line in key_lines(&sk) {
        common::nowhere(dir.path(), &output, &line);
    }
}

#[test]
fn a_file_that_is_not_a_key_is_bad_input() {
    let (_, dir) = Test::new()
        .file("not.key", "untrusted comment: hello\nnot base64 at all!\n")
        .args(&[
            "run",
            &common::example("web-tier"),
            "--drill",
            "--sign-key",
            "not.key",
        ])
        .status(2)
        .stderr("--sign-key not.key: not a minisign secret key")
        .run();
    common::nothing_was_made(dir.path());
    Test::new()
        .file("not.pub", "hello\n")
        .args(&["history", "verify", "--pubkey", "not.pub"])
        .status(2)
        .stderr("--pubkey not.pub: not a minisign public key")
        .run();
    Test::new()
        .args(&["history", "--pubkey", "x.pub"])
        .status(2)
        .stderr("--pubkey is for `rebound history verify`")
        .run();
}
