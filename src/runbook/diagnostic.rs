//! Problems found in a runbook, as data, and the one place they are rendered.
//!
//! Every stage (scan, parse, check) reports `Diagnostic`s; none of them prints. `main` renders
//! them once, through `render`, so every error the user sees has the same shape:
//! `error[code]: message`, `--> file:line:col`, the source line, a caret under the span, and a
//! hint. The layout is annotate-snippets' (rustc's), not a hand-written one.

use std::fmt;

use annotate_snippets::{AnnotationKind, Group, Level, Renderer, Snippet};

use super::source::{Source, Span};

/// What kind of problem: stable names, shown in brackets and used by tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Code {
    /// The file cannot be read as a runbook at all: too large, not UTF-8, control bytes.
    Unreadable,
    /// A string without its closing quote.
    UnterminatedString,
    /// Brackets nested deeper than the language allows.
    TooDeep,
    /// The grammar does not accept the text.
    Syntax,
    /// A number or duration out of range.
    Overflow,
    /// No `runbook` block, or more than one.
    RunbookCount,
    UnknownSetting,
    UnknownAction,
    UnknownField,
    UnknownOutput,
    UnknownStep,
    UnknownParam,
    MissingField,
    WrongType,
    InvalidValue,
    Duplicate,
    Cycle,
    CrossPath,
    /// A step uses an image, snapshot, subnet, group, instance, volume or zone of another
    /// region.
    CrossRegion,
    MissingParamValue,
    /// A secret param used where its value would be shown or sent somewhere other than an
    /// `exec` env or a `user_data`, or given with `--set`.
    Secret,
}

impl Code {
    pub const ALL: [Code; 21] = [
        Code::Unreadable,
        Code::UnterminatedString,
        Code::TooDeep,
        Code::Syntax,
        Code::Overflow,
        Code::RunbookCount,
        Code::UnknownSetting,
        Code::UnknownAction,
        Code::UnknownField,
        Code::UnknownOutput,
        Code::UnknownStep,
        Code::UnknownParam,
        Code::MissingField,
        Code::WrongType,
        Code::InvalidValue,
        Code::Duplicate,
        Code::Cycle,
        Code::CrossPath,
        Code::CrossRegion,
        Code::MissingParamValue,
        Code::Secret,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Code::Unreadable => "unreadable",
            Code::UnterminatedString => "unterminated-string",
            Code::TooDeep => "too-deep",
            Code::Syntax => "syntax",
            Code::Overflow => "overflow",
            Code::RunbookCount => "runbook-count",
            Code::UnknownSetting => "unknown-setting",
            Code::UnknownAction => "unknown-action",
            Code::UnknownField => "unknown-field",
            Code::UnknownOutput => "unknown-output",
            Code::UnknownStep => "unknown-step",
            Code::UnknownParam => "unknown-param",
            Code::MissingField => "missing-field",
            Code::WrongType => "wrong-type",
            Code::InvalidValue => "invalid-value",
            Code::Duplicate => "duplicate",
            Code::Cycle => "cycle",
            Code::CrossPath => "cross-path",
            Code::CrossRegion => "cross-region",
            Code::MissingParamValue => "missing-param-value",
            Code::Secret => "secret",
        }
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One problem, anchored to the span of the source it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub code: Code,
    pub message: String,
    pub span: Span,
    /// Text under the caret; empty for none.
    pub label: String,
    /// Other places that belong to the same problem (every step of a cycle, the first of two
    /// duplicates).
    pub related: Vec<(Span, String)>,
    /// "did you mean `image`?", or what to do about it.
    pub hint: Option<String>,
}

impl Diagnostic {
    pub(crate) fn new(code: Code, span: Span, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            code,
            message: message.into(),
            span,
            label: String::new(),
            related: Vec::new(),
            hint: None,
        }
    }

    pub(crate) fn label(mut self, label: impl Into<String>) -> Self {
        self.label = label.into();
        self
    }

    pub(crate) fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    pub(crate) fn maybe_hint(mut self, hint: Option<String>) -> Self {
        if hint.is_some() {
            self.hint = hint;
        }
        self
    }

    pub(crate) fn related(mut self, span: Span, label: impl Into<String>) -> Self {
        self.related.push((span, label.into()));
        self
    }
}

/// How to draw: colours only for a terminal that wants them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Plain,
    Color,
}

/// Renders diagnostics of one source, in source order, followed by a count.
pub(crate) fn render(source: &Source, diagnostics: &[Diagnostic], style: Style) -> String {
    let renderer = match style {
        Style::Plain => Renderer::plain(),
        Style::Color => Renderer::styled(),
    };
    let mut sorted: Vec<&Diagnostic> = diagnostics.iter().collect();
    sorted.sort_by_key(|d| (d.span.start, d.code));
    let mut out = String::new();
    for diagnostic in sorted {
        out.push_str(&render_one(&renderer, source, diagnostic));
        out.push_str("\n\n");
    }
    let n = diagnostics.len();
    out.push_str(&format!(
        "error: {}: {n} problem{} found\n",
        source.name,
        if n == 1 { "" } else { "s" }
    ));
    out
}

fn render_one(renderer: &Renderer, source: &Source, d: &Diagnostic) -> String {
    let title = format!(
        "{}:{}:{}: {}",
        source.name, d.span.line, d.span.col, d.message
    );
    let mut group = Level::ERROR
        .primary_title(title)
        .id(d.code.name())
        .element(snippet(source, d.span, AnnotationKind::Primary, &d.label));
    for (span, label) in &d.related {
        group = group.element(snippet(source, *span, AnnotationKind::Context, label));
    }
    if let Some(hint) = &d.hint {
        group = group.element(Level::HELP.message(hint.as_str()));
    }
    let report: [Group<'_>; 1] = [group];
    renderer.render(&report)
}

/// A snippet of just the lines a span touches, so a 10 MB file costs no more than a small one.
fn snippet<'a>(
    source: &'a Source,
    span: Span,
    kind: AnnotationKind,
    label: &'a str,
) -> Snippet<'a, annotate_snippets::Annotation<'a>> {
    let lines = source.line_range(span);
    let text = &source.text[lines.clone()];
    let start = span.start.clamp(lines.start, lines.end) - lines.start;
    let end = span.end.clamp(lines.start, lines.end) - lines.start;
    let annotation = kind.span(start..end.max(start));
    let annotation = if label.is_empty() {
        annotation
    } else {
        annotation.label(label)
    };
    Snippet::source(text)
        .line_start(span.line as usize)
        .path(source.name.as_str())
        .annotation(annotation)
}
