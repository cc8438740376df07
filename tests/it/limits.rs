//! The input limits of GRAMMAR.md's "Limits" table that no fixture covers, through the binary:
//! at each limit the input is taken, one past it the command exits 2 with the table's message,
//! and `run` writes nothing (no report, no journal, no history). The inputs are generated from
//! `rebound::runbook::limits`, so the tests follow the constants; the big ones live only in each
//! test's scratch directory.
//!
//! Fixtures already cover MAX_NESTING (too-deep), MAX_STRING_BYTES (string-too-long),
//! MAX_DURATION_SECONDS (overflow-duration) and integers past 64 bits (overflow-integer).

use crate::common;

use common::Test;
use rebound::runbook::limits::{
    MAX_COUNT, MAX_RETRIES, MAX_SCAN_ERRORS, MAX_SOURCE_BYTES, MAX_STEPS,
};

/// `check FILE` and `run FILE --report-dir out` of `contents` both exit 2 with `message` on
/// stderr, and `run` leaves nothing behind. Returns `check`'s stderr.
fn refused(contents: &[u8], message: &str) -> String {
    let (out, _) = Test::new()
        .file("in.runbook", contents)
        .args(&["check", "in.runbook"])
        .status(2)
        .stderr(message)
        .run();
    let (_, dir) = Test::new()
        .file("in.runbook", contents)
        .args(&["run", "in.runbook", "--report-dir", "out"])
        .status(2)
        .stderr(message)
        .run();
    for written in ["out", "state", "history.sqlite"] {
        assert!(
            !dir.path().join(written).exists(),
            "run wrote {written} for an input it refused"
        );
    }
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `check FILE` of `contents` passes.
fn accepted(contents: &[u8]) {
    Test::new()
        .file("in.runbook", contents)
        .args(&["check", "in.runbook"])
        .stdout("ok: in.runbook")
        .run();
}

/// A runbook of `n` one-line `wait` steps named `w0`, `w1`, ...
fn waits(n: usize) -> String {
    let mut text = String::from("runbook \"many\" {\n");
    for i in 0..n {
        text.push_str(&format!("  step w{i} = wait {{ duration = 1s }}\n"));
    }
    text.push_str("}\n");
    text
}

#[test]
fn a_file_past_max_source_bytes_is_not_read() {
    // At the limit the file is read: its one control byte is what is reported. Lines of
    // spaces, not one long line, so that the diagnostic shows a short source line.
    let mut at_limit = b"\x01\n".to_vec();
    while at_limit.len() < MAX_SOURCE_BYTES {
        let room = MAX_SOURCE_BYTES - at_limit.len();
        let line = room.min(100);
        at_limit.extend(std::iter::repeat_n(b' ', line - 1));
        at_limit.push(b'\n');
    }
    assert_eq!(at_limit.len(), MAX_SOURCE_BYTES);
    let (out, _) = Test::new()
        .file("in.runbook", &at_limit)
        .args(&["check", "in.runbook"])
        .status(2)
        .stderr("control byte 0x01 in the runbook")
        .run();
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("a runbook is at most"),
        "a file of exactly {MAX_SOURCE_BYTES} bytes was refused for its size"
    );

    let mut past = at_limit;
    past.push(b'\n');
    let stderr = refused(
        &past,
        &format!(
            "error: in.runbook: {} bytes; a runbook is at most {MAX_SOURCE_BYTES} bytes",
            MAX_SOURCE_BYTES + 1
        ),
    );
    // Refused before it is read: no code, no problem count.
    assert!(!stderr.contains("error["), "{stderr}");
    assert!(!stderr.contains("problems found"), "{stderr}");
}

#[test]
fn a_file_full_of_control_bytes_stops_after_max_scan_errors() {
    let contents = vec![0x01u8; 5 * MAX_SCAN_ERRORS];
    let stderr = refused(
        &contents,
        &format!("error: in.runbook: {MAX_SCAN_ERRORS} problems found"),
    );
    assert_eq!(
        stderr.matches("error[unreadable]: ").count(),
        MAX_SCAN_ERRORS,
        "{stderr}"
    );
    assert_eq!(
        stderr.matches("control byte 0x01 in the runbook").count(),
        MAX_SCAN_ERRORS,
        "{stderr}"
    );
}

#[test]
fn a_runbook_past_max_steps_is_refused() {
    accepted(waits(MAX_STEPS).as_bytes());

    // The first step past the limit is pointed at: `w{MAX_STEPS}`, on the line after the
    // runbook's and the MAX_STEPS before it, where its name starts.
    let message = format!("more than {MAX_STEPS} steps in one runbook");
    let stderr = refused(waits(MAX_STEPS + 1).as_bytes(), &message);
    assert!(
        stderr.contains(&format!(
            "error[invalid-value]: in.runbook:{}:8: {message}",
            MAX_STEPS + 2
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains("help: split the runbook into several"),
        "{stderr}"
    );
}

#[test]
fn a_launch_past_max_count_is_refused() {
    let launch = |count: i64| {
        format!(
            "runbook \"c\" {{\n  step web = launch {{ image = \"ami-0123\", subnet = \"subnet-0123\", \
             instance_types = [\"m5.large\"], count = {count} }}\n}}\n"
        )
    };
    accepted(launch(MAX_COUNT).as_bytes());
    let stderr = refused(
        launch(MAX_COUNT + 1).as_bytes(),
        &format!(
            "{} is out of range: must be between 1 and {MAX_COUNT}",
            MAX_COUNT + 1
        ),
    );
    assert!(stderr.contains("error[invalid-value]: "), "{stderr}");
}

#[test]
fn a_step_past_max_retries_is_refused() {
    // tests/fixtures/bad/invalid-range.runbook has `retries = 100`; this is the boundary.
    let wait = |retries: i64| {
        format!("runbook \"r\" {{\n  step w = wait {{ duration = 1s, retries = {retries} }}\n}}\n")
    };
    accepted(wait(MAX_RETRIES).as_bytes());
    let stderr = refused(
        wait(MAX_RETRIES + 1).as_bytes(),
        &format!(
            "{} is out of range: must be between 0 and {MAX_RETRIES}",
            MAX_RETRIES + 1
        ),
    );
    assert!(stderr.contains("error[invalid-value]: "), "{stderr}");
}
