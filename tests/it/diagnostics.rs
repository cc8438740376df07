//! Every malformed runbook under tests/fixtures/bad renders its diagnostics exactly as the
//! snapshot says; together the fixtures cover every diagnostic code.

use std::collections::BTreeSet;

use rebound::runbook::diagnostic::Style;
use rebound::runbook::{self, Code};

/// Checks a fixture the way `rebound check` does and returns what it would print on stderr.
fn check_fixture(path: &std::path::Path) -> (String, Vec<Code>) {
    let name = format!(
        "fixtures/bad/{}",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("?")
    );
    let bytes = std::fs::read(path).expect("read fixture");
    let result =
        runbook::from_bytes(name, bytes).and_then(|source| runbook::check_source(&source, &[]));
    match result {
        Ok(_) => (String::from("(no problems)"), Vec::new()),
        Err(e) => {
            let codes = match &e {
                runbook::Error::Invalid { diagnostics, .. } => {
                    diagnostics.iter().map(|d| d.code).collect()
                }
                _ => Vec::new(),
            };
            (e.render(Style::Plain), codes)
        }
    }
}

#[test]
fn malformed_runbooks_render_their_diagnostics() {
    insta::glob!("../fixtures/bad", "*.runbook", |path| {
        let (rendered, codes) = check_fixture(path);
        assert!(
            !codes.is_empty(),
            "{} checks clean but is in fixtures/bad",
            path.display()
        );
        insta::assert_snapshot!(rendered);
    });
}

#[test]
fn fixtures_cover_every_diagnostic_code() {
    let mut seen = BTreeSet::new();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bad");
    let mut count = 0;
    for entry in std::fs::read_dir(dir).expect("fixtures dir") {
        let path = entry.expect("entry").path();
        seen.extend(check_fixture(&path).1);
        count += 1;
    }
    let missing: Vec<&str> = Code::ALL
        .iter()
        .filter(|c| !seen.contains(c))
        .map(|c| c.name())
        .collect();
    assert!(missing.is_empty(), "no fixture produces {missing:?}");
    assert!(count >= 30, "only {count} malformed fixtures");
}

/// A directory as CI checks it: a clean runbook, one with two problems (each with a related
/// place and a hint), and a file that is not a runbook (ignored: not `*.runbook`).
fn ci_tree() -> crate::common::Test {
    let bad = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/bad/duplicate-field-and-key.runbook"),
    )
    .expect("fixture");
    crate::common::Test::new()
        .file(
            "dr/good.runbook",
            "runbook \"good\" {\n  step w = wait { duration = 1s }\n}\n",
        )
        .file("dr/bad.runbook", bad)
        .file("dr/notes.txt", "not a runbook")
}

#[test]
fn check_takes_a_directory() {
    ci_tree()
        .args(&["check", "dr"])
        .status(2)
        .stdout_exact("ok: dr/good.runbook (runbook \"good\", 1 steps in 0 paths)\n")
        .stderr("error[duplicate]: dr/bad.runbook:2:34: field `duration` is defined twice")
        .stderr("error: dr/bad.runbook: 2 problems found")
        .run();
    crate::common::Test::new()
        .file("empty/notes.txt", "nothing here")
        .args(&["check", "empty"])
        .status(2)
        .stderr("no `*.runbook` file in empty")
        .run();
}

#[test]
fn check_as_json_lists_every_file_and_problem() {
    let (out, _dir) = ci_tree()
        .args(&["check", "dr", "missing.runbook", "--format", "json"])
        .status(2)
        .stderr_exact("")
        .run();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let v: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!(v["problems"], 3, "{v:#}");
    insta::assert_snapshot!(text);
}

#[test]
fn check_as_sarif_annotates_the_runbook_lines() {
    let (out, _dir) = ci_tree()
        .args(&["check", "dr", "--format", "sarif"])
        .status(2)
        .run();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let v: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    // What code scanning reads (SARIF 2.1.0, the subset GitHub requires).
    assert_eq!(v["version"], "2.1.0");
    assert!(
        v["$schema"]
            .as_str()
            .is_some_and(|s| s.contains("sarif-2.1.0"))
    );
    let run = &v["runs"][0];
    assert_eq!(run["tool"]["driver"]["name"], "rebound");
    let rules = run["tool"]["driver"]["rules"].as_array().expect("rules");
    assert_eq!(rules.len(), Code::ALL.len());
    let results = run["results"].as_array().expect("results");
    assert_eq!(results.len(), 2);
    for r in results {
        let index = r["ruleIndex"].as_u64().expect("ruleIndex") as usize;
        assert_eq!(rules[index]["id"], r["ruleId"], "{r}");
    }
    let first = &results[0]["locations"][0]["physicalLocation"];
    assert_eq!(first["artifactLocation"]["uri"], "dr/bad.runbook");
    assert_eq!(first["region"]["startLine"], 2);
    assert_eq!(first["region"]["startColumn"], 34);
    // The version changes with every release; the rest is the snapshot.
    let stable = text.replace(env!("CARGO_PKG_VERSION"), "VERSION");
    insta::assert_snapshot!(stable);
    // Clean: no results, exit 0.
    crate::common::Test::new()
        .file(
            "good.runbook",
            "runbook \"good\" {\n  step w = wait { duration = 1s }\n}\n",
        )
        .args(&["check", "good.runbook", "--format", "sarif"])
        .stdout("\"results\": []")
        .run();
}
