//! Every example a user may copy checks clean and is already in canonical layout: the runbooks
//! under runbooks/ and every ```runbook block in README.md and GRAMMAR.md.

use crate::common;

use rebound::runbook::{self, fmt};

/// The ```runbook code blocks of a Markdown file, with the line each starts on.
fn runbook_blocks(markdown: &str) -> Vec<(usize, String)> {
    let mut blocks = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (i, line) in markdown.lines().enumerate() {
        match &mut current {
            None if line.trim() == "```runbook" => current = Some((i + 1, String::new())),
            Some((start, text)) if line.trim() == "```" => {
                blocks.push((*start, std::mem::take(text)));
                current = None;
            }
            Some((_, text)) => {
                text.push_str(line);
                text.push('\n');
            }
            None => {}
        }
    }
    blocks
}

fn check_clean(name: String, text: &str) {
    let source = runbook::Source::new(name.clone(), text);
    if let Err(e) = runbook::check_source(&source, &[]) {
        panic!(
            "{name} does not check clean:\n{}",
            e.render(runbook::diagnostic::Style::Plain)
        );
    }
    let file = runbook::parse(&source).expect("parses");
    let formatted = fmt::format(&file);
    assert_eq!(
        formatted, text,
        "{name} is not in canonical layout (run `rebound fmt`)"
    );
}

#[test]
fn example_runbooks_check_clean_and_are_formatted() {
    let dir = common::root().join("runbooks");
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).expect("runbooks/") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "runbook") {
            let text = std::fs::read_to_string(&path).expect("read");
            check_clean(path.display().to_string(), &text);
            count += 1;
        }
    }
    assert!(
        count >= 3,
        "expected at least three example runbooks, found {count}"
    );
}

#[test]
fn runbook_blocks_in_the_docs_check_clean() {
    for doc in ["README.md", "GRAMMAR.md"] {
        let text = std::fs::read_to_string(common::root().join(doc)).expect("read doc");
        let blocks = runbook_blocks(&text);
        assert!(!blocks.is_empty(), "{doc} has no ```runbook block");
        for (line, block) in blocks {
            check_clean(format!("{doc}:{line}"), &block);
        }
    }
}

#[test]
fn the_three_named_examples_exist() {
    for name in ["web-tier", "backup-restore", "region-recovery"] {
        let path = common::root().join(format!("runbooks/{name}.runbook"));
        assert!(path.exists(), "{} is missing", path.display());
    }
}

/// The sample world README points to is the simulator's own format, key for key: it reads
/// into `cloud::sim::World` and writes back the same (a misspelt or unknown key would be
/// dropped on the way, as serde ignores it), and the web-tier drill restores from its images
/// and snapshot.
#[test]
fn the_sample_sim_world_is_a_world_and_web_tier_drills_on_it() {
    let path = common::root().join("runbooks/sim-world.json");
    let text = std::fs::read_to_string(&path).expect("runbooks/sim-world.json");
    let written: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    let world: rebound::cloud::sim::World = serde_json::from_str(&text).expect("a World");
    let back = serde_json::to_value(&world).expect("serialises");
    assert_eq!(back, written, "sim-world.json is not in World's own form");

    let world_arg = path.display().to_string();
    // Its backups have fixed dates, older than web-tier's 24 h RPO by now: recovered, RPO
    // missed (exit 3), restored from the world's newest Safe image and completed snapshot.
    let (_, dir) = common::Test::new()
        .args(&[
            "run",
            &common::example("web-tier"),
            "--drill",
            "--sim-world",
        ])
        .arg(&world_arg)
        .args(&["--report-dir", "out"])
        .status(3)
        .stdout("RPO missed")
        .run();
    let report = common::report(dir.path());
    let output = |step: &str| {
        report["steps"]
            .as_array()
            .and_then(|s| s.iter().find(|s| s["name"] == step))
            .map(|s| s["outputs"]["id"].clone())
    };
    assert_eq!(output("image"), Some("ami-0web00000000000003".into()));
    assert_eq!(output("base"), Some("ami-0base0000000000001".into()));
    assert_eq!(output("data"), Some("snap-0data00000000002".into()));
    assert_eq!(report["outcome"], "succeeded");
}
