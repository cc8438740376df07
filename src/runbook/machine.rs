//! `rebound check`'s result for machines, next to `diagnostic::render` for people: JSON (every
//! file, clean or not, with each diagnostic's code, message, start and end, label, related
//! places and hint) and SARIF 2.1.0, which code-scanning services (GitHub's among them) show
//! as annotations on the runbook's lines in a pull request. Both come from the same
//! `Diagnostic`s the text rendering draws, so the three never disagree.

use serde_json::{Value, json};

use super::diagnostic::{Code, Diagnostic};
use super::error::Error;
use super::source::{Source, Span};

/// One file as `check` found it: a runbook's summary, or why it is not one.
pub struct FileCheck {
    /// The path as the user gave it (or as a directory listing made it).
    pub file: String,
    pub outcome: Result<Summary, Error>,
}

/// What a clean runbook holds, as the text output says it.
pub struct Summary {
    pub runbook: String,
    pub steps: usize,
    pub paths: usize,
}

/// A place in a file, both ends 1-based, columns in characters.
fn place(source: &Source, span: Span) -> Value {
    let (end_line, end_column) = source.line_col(span.end);
    json!({
        "line": span.line,
        "column": span.col,
        "end_line": end_line,
        "end_column": end_column,
    })
}

/// A diagnostic as data; `at` holds where it is, absent for a file that could not be read.
struct Found<'a> {
    code: Code,
    message: String,
    hint: Option<&'a str>,
    label: &'a str,
    at: Option<Value>,
    related: Vec<(Value, &'a str)>,
}

/// Every problem of one file, in source order: its diagnostics, or one `unreadable` problem
/// for a file that is not text a runbook can be (missing, a directory, too large).
fn found(check: &FileCheck) -> Vec<Found<'_>> {
    match &check.outcome {
        Ok(_) => Vec::new(),
        Err(Error::Invalid { file, diagnostics }) => {
            let mut sorted: Vec<&Diagnostic> = diagnostics.iter().collect();
            sorted.sort_by_key(|d| (d.span.start, d.code));
            sorted
                .into_iter()
                .map(|d| Found {
                    code: d.code,
                    message: d.message.clone(),
                    hint: d.hint.as_deref(),
                    label: &d.label,
                    at: Some(place(file, d.span)),
                    related: d
                        .related
                        .iter()
                        .map(|(s, l)| (place(file, *s), l.as_str()))
                        .collect(),
                })
                .collect()
        }
        Err(other) => vec![Found {
            code: Code::Unreadable,
            message: other.to_string(),
            hint: None,
            label: "",
            at: None,
            related: Vec::new(),
        }],
    }
}

/// `check --format json`: `{"files": [...], "problems": N}`.
pub fn json(checks: &[FileCheck]) -> Value {
    let mut problems = 0;
    let files: Vec<Value> = checks
        .iter()
        .map(|c| {
            let found = found(c);
            problems += found.len();
            let diagnostics: Vec<Value> = found
                .iter()
                .map(|f| {
                    let related: Vec<Value> = f
                        .related
                        .iter()
                        .map(|(at, label)| json!({ "at": at, "label": label }))
                        .collect();
                    json!({
                        "code": f.code.name(),
                        "severity": "error",
                        "message": f.message,
                        "at": f.at,
                        "label": f.label,
                        "related": related,
                        "hint": f.hint,
                    })
                })
                .collect();
            let mut file = json!({
                "file": c.file,
                "ok": c.outcome.is_ok(),
                "diagnostics": diagnostics,
            });
            if let Ok(s) = &c.outcome {
                file["runbook"] = json!(s.runbook);
                file["steps"] = json!(s.steps);
                file["paths"] = json!(s.paths);
            }
            file
        })
        .collect();
    json!({ "files": files, "problems": problems })
}

/// A path as a SARIF `artifactLocation.uri`: a relative reference with `/` separators and the
/// characters a URI cannot hold percent-encoded; an absolute path as a `file://` URI.
fn uri(path: &str) -> String {
    let mut out = String::new();
    for c in path.replace('\\', "/").chars() {
        match c {
            'A'..='Z'
            | 'a'..='z'
            | '0'..='9'
            | '-'
            | '.'
            | '_'
            | '~'
            | '/'
            | ':'
            | '@'
            | '+'
            | '='
            | ','
            | '!'
            | '$'
            | '&'
            | '\''
            | '('
            | ')'
            | '*'
            | ';' => out.push(c),
            _ => {
                let mut buf = [0; 4];
                for b in c.encode_utf8(&mut buf).bytes() {
                    out.push_str(&format!("%{b:02X}"));
                }
            }
        }
    }
    if out.starts_with('/') {
        format!("file://{out}")
    } else {
        out
    }
}

/// A SARIF region from a place of `json`'s shape.
fn region(at: &Value) -> Value {
    json!({
        "startLine": at["line"],
        "startColumn": at["column"],
        "endLine": at["end_line"],
        "endColumn": at["end_column"],
    })
}

/// `check --format sarif`: one run of the tool `rebound`, a rule per diagnostic code, a result
/// per problem at its file, line and column (in characters: `columnKind`).
pub fn sarif(checks: &[FileCheck], version: &str) -> Value {
    let rules: Vec<Value> = Code::ALL
        .iter()
        .map(|c| {
            json!({
                "id": c.name(),
                "name": c.name(),
                "shortDescription": { "text": format!("rebound check: {}", c.name().replace('-', " ")) },
                "defaultConfiguration": { "level": "error" },
            })
        })
        .collect();
    let mut results = Vec::new();
    for c in checks {
        for f in found(c) {
            let mut location = json!({
                "physicalLocation": { "artifactLocation": { "uri": uri(&c.file) } }
            });
            if let Some(at) = &f.at {
                location["physicalLocation"]["region"] = region(at);
            }
            let text = match f.hint {
                Some(h) => format!("{} (help: {h})", f.message),
                None => f.message.clone(),
            };
            let related: Vec<Value> = f
                .related
                .iter()
                .enumerate()
                .map(|(i, (at, label))| {
                    json!({
                        "id": i,
                        "message": { "text": label },
                        "physicalLocation": {
                            "artifactLocation": { "uri": uri(&c.file) },
                            "region": region(at),
                        },
                    })
                })
                .collect();
            let mut result = json!({
                "ruleId": f.code.name(),
                "ruleIndex": Code::ALL.iter().position(|x| *x == f.code),
                "level": "error",
                "message": { "text": text },
                "locations": [location],
            });
            if !related.is_empty() {
                result["relatedLocations"] = json!(related);
            }
            results.push(result);
        }
    }
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": "rebound",
                "version": version,
                "rules": rules,
            }},
            "columnKind": "unicodeCodePoints",
            "results": results,
        }],
    })
}

#[cfg(test)]
mod tests {
    use super::uri;

    #[test]
    fn paths_become_uri_references() {
        assert_eq!(
            uri("runbooks/web tier.runbook"),
            "runbooks/web%20tier.runbook"
        );
        assert_eq!(uri("/srv/dr/a#b.runbook"), "file:///srv/dr/a%23b.runbook");
        assert_eq!(uri("dr\\web.runbook"), "dr/web.runbook");
    }
}
