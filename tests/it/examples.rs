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
