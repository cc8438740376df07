//! The command line as a user types it: exit codes, where output goes, and inputs that must
//! never panic, hang or overflow the stack.

mod common;

use common::Test;

const GOOD: &str = "runbook \"g\" {\n  step w = wait { duration = 1m }\n}\n";

#[test]
fn check_clean_runbook_exits_0() {
    Test::new()
        .file("g.runbook", GOOD)
        .args(&["check", "g.runbook"])
        .stdout("ok: g.runbook")
        .run();
}

#[test]
fn check_reports_every_file_and_exits_2() {
    Test::new()
        .file("g.runbook", GOOD)
        .file("a.runbook", "runbook \"a\" {\n  rto = 5\n}\n")
        .file("b.runbook", "runbook \"b\" {\n  step s = lanch {}\n}\n")
        .args(&["check", "g.runbook", "a.runbook", "b.runbook"])
        .status(2)
        .stdout("ok: g.runbook")
        .stderr("a.runbook:2:9: expected a duration")
        .stderr("b.runbook:2:12: unknown action `lanch`")
        .stderr("help: did you mean `launch`?")
        .run();
}

#[test]
fn missing_file_is_bad_input() {
    Test::new()
        .args(&["check", "nope.runbook"])
        .status(2)
        .stderr("cannot read nope.runbook")
        .run();
}

#[test]
fn required_param_needs_set() {
    let rb = "runbook \"p\" {\n  param tier\n  step w = wait { duration = 1m }\n}\n";
    Test::new()
        .file("p.runbook", rb)
        .args(&["check", "p.runbook"])
        .status(2)
        .stderr("param `tier` has no value")
        .run();
    Test::new()
        .file("p.runbook", rb)
        .args(&["check", "p.runbook", "--set", "tier=web"])
        .run();
    Test::new()
        .file("p.runbook", rb)
        .args(&["check", "p.runbook", "--set", "tier=web", "--set", "teir=x"])
        .status(2)
        .stderr("this runbook has no param `teir`")
        .stderr("did you mean `tier`?")
        .run();
    Test::new()
        .file("p.runbook", rb)
        .args(&["check", "p.runbook", "--set", "tier"])
        .status(2)
        .stderr("expected NAME=VALUE")
        .run();
}

#[test]
fn bad_inputs_get_a_diagnostic_never_a_panic() {
    let huge_comment = format!("# {}\n", "x".repeat(10 * 1024 * 1024));
    let deep = format!("runbook \"d\" {{\n  tags = {}\n}}\n", "[".repeat(100_000));
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty", Vec::new(), "no runbook in this file"),
        (
            "invalid utf-8",
            b"runbook \"x\" {\n  description = \"\xff\xfe\"\n}\n".to_vec(),
            "not valid UTF-8",
        ),
        ("10 MB", huge_comment.into_bytes(), "a runbook is at most"),
        (
            "100,000 [",
            deep.into_bytes(),
            "brackets nest deeper than 32 levels",
        ),
        ("NUL", b"runbook \"x\" {\0}\n".to_vec(), "a NUL byte"),
        (
            "unterminated string",
            b"runbook \"x {\n}\n".to_vec(),
            "unterminated string",
        ),
        (
            "two runbooks",
            b"runbook \"a\" {\n}\nrunbook \"b\" {\n}\n".to_vec(),
            "a file holds exactly one runbook",
        ),
        ("garbage", b"}}}{{{ ] [ = = =".to_vec(), "expected"),
        ("only a name", b"runbook".to_vec(), "expected a string"),
    ];
    for (what, bytes, want) in cases {
        for command in ["check", "plan", "fmt"] {
            let (out, _) = Test::new()
                .file("bad.runbook", &bytes)
                .args(&[command, "bad.runbook"])
                .status(2)
                .stderr(want)
                .run();
            assert!(
                out.stdout.is_empty() || command == "check",
                "{what}: {command} printed output"
            );
        }
    }
}

#[test]
fn fmt_rewrites_in_place_and_check_mode_reports() {
    let messy = "runbook \"m\" {\n    rto=5m\n}\n";
    let (_, dir) = Test::new()
        .file("m.runbook", messy)
        .args(&["fmt", "--check", "m.runbook"])
        .status(1)
        .stdout("would reformat m.runbook")
        .run();
    assert_eq!(
        std::fs::read_to_string(dir.path().join("m.runbook")).expect("read"),
        messy
    );
    let (_, dir) = Test::new()
        .file("m.runbook", messy)
        .args(&["fmt", "m.runbook"])
        .run();
    assert_eq!(
        std::fs::read_to_string(dir.path().join("m.runbook")).expect("read"),
        "runbook \"m\" {\n  rto = 5m\n}\n"
    );
    let leftovers: Vec<_> = std::fs::read_dir(dir.path()).expect("dir").collect();
    assert_eq!(leftovers.len(), 1, "fmt left a temporary file behind");
}

#[test]
fn fmt_of_a_broken_runbook_changes_nothing() {
    let broken = "runbook \"m\" {\n  rto = \n}\n";
    let (_, dir) = Test::new()
        .file("m.runbook", broken)
        .args(&["fmt", "m.runbook"])
        .status(2)
        .stderr("m.runbook:2:9")
        .run();
    assert_eq!(
        std::fs::read_to_string(dir.path().join("m.runbook")).expect("read"),
        broken
    );
}

#[test]
fn plan_formats() {
    let root = common::root();
    let web = root.join("runbooks/web-tier.runbook");
    let web = web.to_str().expect("utf-8 path");
    Test::new()
        .args(&["plan", web])
        .stdout("expected critical path")
        .stdout("level 0")
        .run();
    Test::new()
        .args(&["plan", web, "--format", "dot"])
        .stdout("digraph \"web-tier\"")
        .run();
    Test::new()
        .args(&["plan", web, "--format", "mermaid"])
        .stdout("flowchart LR")
        .run();
    Test::new()
        .args(&["plan", web, "--format", "json"])
        .stdout("\"schema\": \"rebound.plan/v1\"")
        .run();
    Test::new()
        .args(&["plan", web, "--format", "svg"])
        .status(2)
        .stderr("invalid value 'svg'")
        .run();
}

#[test]
fn help_has_examples() {
    for command in ["check", "plan", "fmt"] {
        Test::new()
            .args(&[command, "--help"])
            .stdout("Examples:")
            .run();
    }
}
