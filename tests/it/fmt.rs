//! `fmt` is idempotent and does not change meaning: on every example and fixture, and on
//! runbooks generated with random layout, comments, commas and blank lines.

use crate::common;

use proptest::prelude::*;
use rebound::cloud::latency::LatencyModel;
use rebound::plan::{Plan, json};
use rebound::runbook::{self, Source};

/// What checking a text gives, without positions: the plan for a clean runbook, else each
/// diagnostic's code and message.
fn meaning(text: &str) -> String {
    let source = Source::new("x.runbook", text);
    match runbook::check_source(&source, &[]) {
        Ok(rb) => json::render(&Plan::new(&rb, &LatencyModel::default())),
        Err(runbook::Error::Invalid { diagnostics, .. }) => {
            let mut lines: Vec<String> = diagnostics
                .iter()
                .map(|d| format!("{}: {}", d.code, d.message))
                .collect();
            lines.sort();
            lines.join("\n")
        }
        Err(other) => other.to_string(),
    }
}

/// Formats a text that parses; `None` when it does not.
fn format(text: &str) -> Option<String> {
    let source = Source::new("x.runbook", text);
    let file = runbook::parse(&source).ok()?;
    Some(runbook::fmt::format(&file))
}

fn assert_fmt_properties(name: &str, text: &str) {
    let Some(once) = format(text) else { return };
    let twice =
        format(&once).unwrap_or_else(|| panic!("{name}: fmt output does not parse:\n{once}"));
    assert_eq!(once, twice, "{name}: fmt is not idempotent");
    assert_eq!(
        meaning(text),
        meaning(&once),
        "{name}: fmt changed the meaning:\n{once}"
    );
    let comments = |t: &str| {
        t.lines()
            .filter_map(|l| l.find('#').map(|i| l[i..].trim_end().to_string()))
            .count()
    };
    assert_eq!(
        comments(text),
        comments(&once),
        "{name}: fmt lost a comment:\n{once}"
    );
}

#[test]
fn fmt_is_idempotent_and_keeps_meaning_on_examples_and_fixtures() {
    let root = common::root();
    let mut n = 0;
    for dir in ["runbooks", "tests/fixtures/bad"] {
        for entry in std::fs::read_dir(root.join(dir)).expect("dir") {
            let path = entry.expect("entry").path();
            let Ok(text) = std::fs::read_to_string(&path) else {
                continue;
            };
            assert_fmt_properties(&path.display().to_string(), &text);
            n += 1;
        }
    }
    assert!(n > 30);
}

#[test]
fn fmt_lays_out_a_messy_runbook_canonically() {
    let messy = "# top\nrunbook \"m\" {   # trailing\n\n\n  rto=5m,rpo = 1h\n  param   a=\"x\"\n\
                 step w = wait {duration=1m,\n\n   # inside\n   timeout = 2m }\n  tags = {\"B\" = \"1\", C = [1,2,\n 3] }\n}\n# end\n";
    let want = "# top\nrunbook \"m\" { # trailing\n  rto = 5m\n  rpo = 1h\n  param a = \"x\"\n\
                step w = wait {\n    duration = 1m\n\n    # inside\n    timeout = 2m\n  }\n\
                tags = { B = \"1\", C = [1, 2, 3] }\n}\n# end\n";
    let got = format(messy).expect("parses");
    assert_eq!(
        got,
        want.replace("\nstep", "\n  step")
            .replace("\ntags", "\n  tags")
    );
}

/// One generated item of a runbook body: (text of the item, whether it is a step).
fn step_text(i: usize, action: u8, prev: Option<usize>, one_line: bool, comment: bool) -> String {
    let name = format!("s{i}");
    let mut fields: Vec<String> = match action % 4 {
        0 => vec!["duration = 90s".into()],
        1 => vec![
            "tags = { App = \"web\", \"Safe\" = \"True\" }".into(),
            "owners = [\"self\"]".into(),
        ],
        2 => vec!["message = \"go? \\\"yes\\\"\\n\"".into()],
        _ => vec![
            "command = [\"echo\", \"hi\"]".into(),
            "env = { A = \"1\" }".into(),
        ],
    };
    if let Some(p) = prev {
        fields.push(format!("after = [s{p}]"));
    }
    let action = ["wait", "find_image", "approve", "exec"][usize::from(action % 4)];
    let c = if comment { " # note" } else { "" };
    if one_line {
        format!("step {name} = {action} {{ {} }}{c}", fields.join(", "))
    } else {
        format!("step {name} = {action} {{{c}\n{}\n}}", fields.join("\n"))
    }
}

prop_compose! {
    fn generated_runbook()(
        steps in prop::collection::vec((any::<u8>(), any::<bool>(), any::<bool>(), any::<bool>()), 0..8),
        paths in 0usize..3,
        blank in prop::collection::vec(any::<bool>(), 16),
        settings in prop::sample::subsequence(vec!["rto = 15m", "rpo = 1d", "strategy = \"all\"", "region = \"eu-west-1\"", "bogus = 1"], 0..5),
        own_comment in any::<bool>(),
        typo in any::<bool>(),
    ) -> String {
        let mut body: Vec<String> = settings.iter().map(|s| (*s).to_string()).collect();
        body.push("param p = \"v\"".to_string());
        let per_path = steps.len().div_ceil(paths.max(1));
        for (i, (action, one_line, comment, dep)) in steps.iter().enumerate() {
            let prev = (*dep && i > 0).then(|| i - 1);
            let mut text = step_text(i, *action, prev, *one_line, *comment);
            if typo && i == 0 {
                text = text.replace("= wait", "= wiat");
            }
            if paths > 0 && i % per_path == 0 {
                text = format!("path p{} {{\nrto = 5m\n{text}", i / per_path);
            }
            if paths > 0 && ((i + 1) % per_path == 0 || i + 1 == steps.len()) {
                text.push_str("\n}");
            }
            body.push(text);
        }
        let mut out = String::from("runbook \"gen\" {\n");
        if own_comment {
            out.push_str("# own line\n");
        }
        for (i, item) in body.iter().enumerate() {
            out.push_str(item);
            out.push('\n');
            if blank[i % blank.len()] {
                out.push('\n');
            }
        }
        out.push_str("}\n");
        out
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn fmt_is_idempotent_and_keeps_meaning_on_generated_runbooks(text in generated_runbook()) {
        prop_assert!(format(&text).is_some(), "generated runbook does not parse:\n{text}");
        assert_fmt_properties("generated", &text);
    }
}

/// Inputs that once moved a comment to another item or needed two passes (review findings).
#[test]
fn fmt_keeps_comments_with_their_items() {
    let long = "x".repeat(78);
    let cases: Vec<(String, &str, &str)> = vec![
        (
            "runbook \"x\" {\n  step a = wait {\n    duration = 1m, timeout = 2m # about timeout\n  }\n}\n".into(),
            "timeout  = 2m # about timeout",
            "duration = 1m\n",
        ),
        (
            "runbook \"x\" {\n  step c = wait { duration = 1m # about duration\n  }\n}\n".into(),
            "duration = 1m # about duration",
            "step c = wait {\n",
        ),
        (
            "runbook \"r\" {\n  step s = exec {\n    aa = 1, b = { # c\n    }\n  }\n}\n".into(),
            "b = { # c",
            "aa = 1\n",
        ),
        (
            format!("runbook \"r\" {{\n  step s = exec {{\n    critical = true\n    env = {{ A = \"{long}\" }} # c\n  }}\n}}\n"),
            "# c",
            "critical = true\n",
        ),
        (
            "runbook \"r\" {\n  param p # about p\n  param q = 1\n}\n".into(),
            "param p # about p",
            "param q = 1\n",
        ),
    ];
    for (input, with_comment, without) in cases {
        let once = format(&input).expect("parses");
        assert!(
            once.contains(with_comment),
            "lost {with_comment:?} in:\n{once}"
        );
        assert!(
            once.contains(without),
            "comment moved onto {without:?}:\n{once}"
        );
        assert_eq!(
            format(&once).as_deref(),
            Some(once.as_str()),
            "not idempotent:\n{once}"
        );
        assert_fmt_properties("review case", &input);
    }
}

#[test]
fn a_byte_order_mark_is_ignored() {
    let source = runbook::from_bytes(
        "bom.runbook".into(),
        b"\xef\xbb\xbfrunbook \"b\" {\n  rto = 5m\n}\n".to_vec(),
    )
    .expect("utf-8");
    assert!(runbook::check_source(&source, &[]).is_ok());
}

#[test]
fn fmt_check_takes_a_directory() {
    crate::common::Test::new()
        .file(
            "dr/tidy.runbook",
            "runbook \"tidy\" {\n  step w = wait { duration = 1s }\n}\n",
        )
        .file(
            "dr/messy.runbook",
            "runbook \"messy\" {\nstep w = wait { duration = 1s }\n}\n",
        )
        .args(&["fmt", "--check", "dr"])
        .status(1)
        .stdout_exact("would reformat dr/messy.runbook\n")
        .run();
}
