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
