//! The shared evidence store against moto's S3 (which implements Object Lock): runs recorded
//! from two "machines" (separate state directories) form one chain; a locked record cannot be
//! deleted, an overwrite does not change what is read, and a record slipped in out of chain
//! is caught by `history verify`. Signed runs keep their signatures beside their records,
//! locked the same way, and `history verify --pubkey` checks them.

use crate::common;

use std::path::Path;

use common::moto::{Moto, credentials};

fn rebound(moto: &Moto, dir: &Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_rebound"))
        .args(args)
        .args(["--endpoint-url", &moto.url, "--region", "us-east-1"])
        .current_dir(dir)
        .envs(credentials())
        .env("REBOUND_STATE_DIR", dir.join("state"))
        .env("REBOUND_HISTORY", "s3://evidence/dr/web")
        .output()
        .expect("run rebound")
}

fn text(out: &std::process::Output) -> String {
    format!(
        "status {:?}\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn records_in_a_locked_bucket_cannot_be_rewritten_and_verify_catches_an_outsider() {
    let moto = Moto::start();
    moto.python("evidence_bucket.py", &["make", "evidence"]);
    let runbook = common::root().join("runbooks/web-tier.runbook");
    let runbook = runbook.to_str().expect("path");
    // A key pair made by the minisign crate (a key with a checksum, as minisign 0.12 writes).
    let keys = tempfile::tempdir().expect("dir");
    let pair = minisign::KeyPair::generate_unencrypted_keypair().expect("keys");
    let (sk, pk) = (keys.path().join("s.key"), keys.path().join("s.pub"));
    std::fs::write(&sk, pair.sk.to_box(None).expect("box").into_string()).expect("write");
    std::fs::write(&pk, pair.pk.to_box().expect("box").into_string()).expect("write");
    let (sk, pk) = (sk.to_str().expect("utf-8"), pk.to_str().expect("utf-8"));
    for machine in ["cron-a", "cron-b"] {
        let dir = tempfile::tempdir().expect("dir");
        let out = rebound(
            &moto,
            dir.path(),
            &["run", runbook, "--drill", "--seed", "4", "--sign-key", sk],
        );
        assert_eq!(out.status.code(), Some(0), "{machine}: {}", text(&out));
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("history: record"),
            "{}",
            text(&out)
        );
    }
    let dir = tempfile::tempdir().expect("dir");
    let verify = || rebound(&moto, dir.path(), &["history", "verify"]);
    let out = verify();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("2 records, the chain holds"));
    let out = rebound(&moto, dir.path(), &["history", "verify", "--pubkey", pk]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("every record signed by this key"),
        "{}",
        text(&out)
    );
    // The signature is locked with its record.
    let signature = "dr/web/records/000000000001.json.minisig";
    let del = moto.python("evidence_bucket.py", &["delete", "evidence", signature]);
    assert_eq!(del["error"], "AccessDenied", "{del}");

    // Locked: the original version cannot be deleted.
    let first = "dr/web/records/000000000001.json";
    let del = moto.python("evidence_bucket.py", &["delete", "evidence", first]);
    assert_eq!(del["deleted"], false, "{del}");
    assert_eq!(del["error"], "AccessDenied", "{del}");
    // An overwrite only adds a version on top; the locked original is what counts.
    let over = moto.python("evidence_bucket.py", &["overwrite", "evidence", first]);
    assert_eq!(over["versions"], 2, "{over}");
    let out = verify();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let listed = rebound(&moto, dir.path(), &["history", "--format", "json"]);
    let listed: serde_json::Value = serde_json::from_slice(&listed.stdout).expect("json");
    assert_eq!(
        listed[0]["outcome"], "succeeded",
        "the forged version was read"
    );

    // A record added out of chain (a copy of the first, as the third).
    moto.python(
        "evidence_bucket.py",
        &[
            "copy",
            "evidence",
            first,
            "dr/web/records/000000000003.json",
        ],
    );
    let out = verify();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("record 3"),
        "{}",
        text(&out)
    );
}
