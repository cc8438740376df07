//! `rebound fmt`: prints an AST back in the one canonical layout, keeping every comment.
//!
//! The layout: two-space indents; one item per line; a step on one line when its author wrote
//! it so and it fits; `=` aligned within a run of consecutive one-line fields; at most one blank line kept between items; lists and maps on one line when
//! they fit in 100 columns and hold no comment, else one element per line with trailing commas
//! for lists. Strings are re-escaped, durations kept as written, integers in plain decimal.
//!
//! Comments are not in the AST: the scan records where they are, and the printer emits each
//! one before the first node that starts after it (an own-line comment) or at the end of the
//! line of the node it follows (a trailing comment). Printing is idempotent: formatting its own
//! output changes nothing (tested, also on generated runbooks).

use super::ast::{Field, File, Item, Param, Path, PathItem, Runbook, Step, Value, ValueKind};
use super::checked::{quote, quote_key};
use super::source::Span;

const WIDTH: usize = 100;
const INDENT: &str = "  ";

/// The canonical text of a parsed file.
pub fn format(file: &File) -> String {
    let mut p = Printer {
        text: &file.source.text,
        comments: &file.comments,
        next_comment: 0,
        out: String::with_capacity(file.source.text.len()),
        indent: 0,
        last: 0,
        block_start: true,
    };
    for (i, rb) in file.runbooks.iter().enumerate() {
        if i > 0 {
            p.block_start = false;
        }
        p.runbook(rb);
    }
    p.rest();
    p.out
}

struct Printer<'a> {
    text: &'a str,
    comments: &'a [Span],
    next_comment: usize,
    out: String,
    indent: usize,
    /// Source offset up to which everything has been printed.
    last: usize,
    /// Just after an opening brace, or at the top of the file: no blank line here.
    block_start: bool,
}

impl Printer<'_> {
    /// Starts the line of a node at source offset `pos`: the comments before it on lines of
    /// their own, a kept blank line, the indent.
    fn begin_line(&mut self, pos: usize) {
        while let Some(c) = self.comments.get(self.next_comment).copied() {
            if c.start >= pos {
                break;
            }
            self.next_comment += 1;
            self.blank_line_if_any(c.start);
            self.push_indent();
            self.out.push_str(self.text[c.start..c.end].trim_end());
            self.out.push('\n');
            self.last = c.end;
        }
        self.blank_line_if_any(pos);
        self.push_indent();
    }

    /// Ends the line of a node that ends at `end`: a comment on the same source line follows
    /// it.
    fn end_line(&mut self, end: usize) {
        self.last = self.last.max(end);
        if let Some(c) = self.comments.get(self.next_comment).copied() {
            // Only separators and closing brackets may stand between a node and its trailing
            // comment; anything else means the comment belongs to a later node.
            let between = self.text.get(end.min(c.start)..c.start).unwrap_or("");
            let trailing = between
                .chars()
                .all(|ch| matches!(ch, ' ' | '\t' | ',' | ']' | '}'));
            if c.start >= end && trailing {
                self.next_comment += 1;
                self.out.push(' ');
                self.out.push_str(self.text[c.start..c.end].trim_end());
                self.last = c.end;
            }
        }
        self.out.push('\n');
        self.block_start = false;
    }

    /// One blank line where the source had one or more between what was printed and `pos`.
    fn blank_line_if_any(&mut self, pos: usize) {
        if self.block_start {
            self.block_start = false;
            return;
        }
        let gap = self.text.get(self.last.min(pos)..pos).unwrap_or("");
        let mut newlines = 0;
        for c in gap.chars() {
            match c {
                '\n' => {
                    newlines += 1;
                    if newlines >= 2 {
                        self.out.push('\n');
                        break;
                    }
                }
                ' ' | '\t' | '\r' => {}
                _ => newlines = 0,
            }
        }
    }

    fn push_indent(&mut self) {
        for _ in 0..self.indent {
            self.out.push_str(INDENT);
        }
    }

    /// Comments after the last node of the file.
    fn rest(&mut self) {
        self.begin_line(usize::MAX);
        // begin_line indented for a node that will not come.
        let trimmed = self.out.trim_end_matches(' ').len();
        self.out.truncate(trimmed);
    }

    fn runbook(&mut self, rb: &Runbook) {
        self.begin_line(rb.span.start);
        self.out
            .push_str(&format!("runbook {} {{", quote(&rb.name.value)));
        let items: Vec<Line<'_>> = rb.items.iter().map(Line::from_item).collect();
        self.block(
            &items,
            brace_after(self.text, rb.name.span.end),
            rb.span.end,
        );
        self.end_line(rb.span.end);
    }

    /// The body of a `{ ... }` block whose `{` is at `open` and that ends at `end` (after `}`).
    fn block(&mut self, items: &[Line<'_>], open: usize, end: usize) {
        self.end_line(open + 1);
        self.block_start = true;
        self.indent += 1;
        let widths = self.alignment(items);
        for (item, width) in items.iter().zip(widths) {
            match item {
                Line::Field(f) => self.field(f, width),
                Line::Param(p) => self.param(p),
                Line::Path(p) => self.path(p),
                Line::Step(s) => self.step(s),
            }
        }
        let close = end.saturating_sub(1);
        self.begin_line(close);
        self.indent -= 1;
        // begin_line indented for the inner level; the brace sits one level out.
        let trimmed = self.out.len() - INDENT.len().min(self.out.len());
        if self.out[trimmed..] == *INDENT {
            self.out.truncate(trimmed);
        }
        self.out.push('}');
    }

    /// The name width each item is padded to: runs of one-line fields share the widest name.
    fn alignment(&self, items: &[Line<'_>]) -> Vec<usize> {
        let mut widths = vec![0; items.len()];
        let mut run: Vec<usize> = Vec::new();
        // A field whose value no longer fits once its name is padded leaves the run (and is
        // printed unpadded); the others are aligned to the widest name left.
        let close_run = |run: &mut Vec<usize>, widths: &mut Vec<usize>| {
            loop {
                let w = run.iter().map(|&i| items[i].name_len()).max().unwrap_or(0);
                let before = run.len();
                run.retain(|&i| match items[i] {
                    Line::Field(f) => self.fits_inline(&f.value, w + 3),
                    _ => false,
                });
                if run.len() == before {
                    for &i in run.iter() {
                        widths[i] = w;
                    }
                    break;
                }
            }
            run.clear();
        };
        for (i, item) in items.iter().enumerate() {
            let joins = match item {
                Line::Field(f) => {
                    let one_line = self.fits_inline(&f.value, f.name.name.chars().count() + 3);
                    let separated = run
                        .last()
                        .is_some_and(|&prev| self.breaks_run(items[prev].span().end, f.span.start));
                    if separated {
                        close_run(&mut run, &mut widths);
                    }
                    one_line
                }
                _ => false,
            };
            if joins {
                run.push(i);
            } else {
                close_run(&mut run, &mut widths);
            }
        }
        close_run(&mut run, &mut widths);
        widths
    }

    /// A blank line or an own-line comment between two fields ends an alignment run.
    fn breaks_run(&self, from: usize, to: usize) -> bool {
        let gap = self.text.get(from..to).unwrap_or("");
        let mut lines = gap.split('\n');
        lines.next();
        let inner: Vec<&str> = lines.collect();
        inner.len() > 1
            && inner[..inner.len() - 1].iter().any(|l| {
                let t = l.trim();
                t.is_empty() || t.starts_with('#')
            })
    }

    fn field(&mut self, f: &Field, width: usize) {
        self.begin_line(f.span.start);
        let name = &f.name.name;
        self.out.push_str(&format!("{name:width$} = "));
        self.value(&f.value);
        self.end_line(f.span.end);
    }

    fn param(&mut self, p: &Param) {
        self.begin_line(p.span.start);
        self.out.push_str("param ");
        self.out.push_str(&p.name.name);
        if let Some(v) = &p.default {
            self.out.push_str(" = ");
            self.value(v);
        }
        if p.secret.is_some() {
            self.out.push_str(" secret");
        }
        self.end_line(p.span.end);
    }

    fn path(&mut self, p: &Path) {
        self.begin_line(p.span.start);
        self.out.push_str(&format!("path {} {{", p.name.name));
        let items: Vec<Line<'_>> = p
            .items
            .iter()
            .map(|i| match i {
                PathItem::Setting(f) => Line::Field(f),
                PathItem::Step(s) => Line::Step(s),
            })
            .collect();
        self.block(&items, brace_after(self.text, p.name.span.end), p.span.end);
        self.end_line(p.span.end);
    }

    fn step(&mut self, s: &Step) {
        self.begin_line(s.span.start);
        self.out
            .push_str(&format!("step {} = {} {{", s.name.name, s.action.name));
        let open = brace_after(self.text, s.action.span.end);
        if s.fields.is_empty() && !self.has_comment(open, s.span.end) {
            self.out.push('}');
        } else if let Some(line) = self.one_line_step(s, open) {
            self.out.push_str(&line);
        } else {
            let items: Vec<Line<'_>> = s.fields.iter().map(Line::Field).collect();
            self.block(&items, open, s.span.end);
        }
        self.end_line(s.span.end);
    }

    /// ` f = v, g = w }` when the author wrote the step on one line, it holds no comment, and it
    /// still fits in the width.
    fn one_line_step(&self, s: &Step, open: usize) -> Option<String> {
        let written = self.text.get(open..s.span.end)?;
        if written.contains('\n') || self.has_comment(open, s.span.end) {
            return None;
        }
        let fields: Option<Vec<String>> = s
            .fields
            .iter()
            .map(|f| Some(format!("{} = {}", f.name.name, inline(&f.value)?)))
            .collect();
        let line = format!(" {} }}", fields?.join(", "));
        (self.column() + line.chars().count() <= WIDTH).then_some(line)
    }

    fn has_comment(&self, start: usize, end: usize) -> bool {
        // The comments are in source order: find the first at or after `start`.
        let rest = &self.comments[self.next_comment..];
        let i = rest.partition_point(|c| c.start < start);
        rest.get(i).is_some_and(|c| c.start < end)
    }

    /// The column the next character would be printed at, in characters.
    fn column(&self) -> usize {
        let line = self.out.rfind('\n').map_or(0, |i| i + 1);
        self.out[line..].chars().count()
    }

    /// Whether `v` prints on one line after `prefix` more columns on this line.
    fn fits_inline(&self, v: &Value, prefix: usize) -> bool {
        if self.has_comment(v.span.start, v.span.end) {
            return false;
        }
        let column = self.indent * INDENT.len() + prefix;
        inline(v).is_some_and(|s| column + s.chars().count() <= WIDTH)
    }

    fn value(&mut self, v: &Value) {
        let prefix = self.column().saturating_sub(self.indent * INDENT.len());
        if self.fits_inline(v, prefix)
            && let Some(s) = inline(v)
        {
            self.out.push_str(&s);
            return;
        }
        match &v.kind {
            ValueKind::List(items) => {
                self.out.push('[');
                self.end_line(v.span.start + 1);
                self.block_start = true;
                self.indent += 1;
                for item in items {
                    self.begin_line(item.span.start);
                    self.value(item);
                    self.out.push(',');
                    self.end_line(item.span.end);
                }
                self.close(v.span.end, ']');
            }
            ValueKind::Map(entries) => {
                self.out.push('{');
                self.end_line(v.span.start + 1);
                self.block_start = true;
                self.indent += 1;
                for e in entries {
                    self.begin_line(e.span.start);
                    self.out.push_str(&key(e.quoted, &e.key.value));
                    self.out.push_str(" = ");
                    self.value(&e.value);
                    self.end_line(e.span.end);
                }
                self.close(v.span.end, '}');
            }
            // Scalars are always inline.
            _ => self.out.push_str(&inline(v).unwrap_or_default()),
        }
    }

    /// The closing bracket of a multi-line list or map ending at `end`.
    fn close(&mut self, end: usize, bracket: char) {
        self.begin_line(end.saturating_sub(1));
        self.indent -= 1;
        let trimmed = self.out.len() - INDENT.len().min(self.out.len());
        if self.out[trimmed..] == *INDENT {
            self.out.truncate(trimmed);
        }
        self.out.push(bracket);
        self.last = self.last.max(end);
    }
}

/// An item of a block, for alignment.
enum Line<'a> {
    Field(&'a Field),
    Param(&'a Param),
    Path(&'a Path),
    Step(&'a Step),
}

impl<'a> Line<'a> {
    fn from_item(item: &'a Item) -> Line<'a> {
        match item {
            Item::Setting(f) => Line::Field(f),
            Item::Param(p) => Line::Param(p),
            Item::Path(p) => Line::Path(p),
            Item::Step(s) => Line::Step(s),
        }
    }

    fn span(&self) -> Span {
        match self {
            Line::Field(f) => f.span,
            Line::Param(p) => p.span,
            Line::Path(p) => p.span,
            Line::Step(s) => s.span,
        }
    }

    fn name_len(&self) -> usize {
        match self {
            Line::Field(f) => f.name.name.chars().count(),
            _ => 0,
        }
    }
}

/// A value on one line, or `None` if it contains something that cannot be (nothing today).
fn inline(v: &Value) -> Option<String> {
    Some(match &v.kind {
        ValueKind::Str(s) => quote(s),
        ValueKind::Int(n) => n.to_string(),
        ValueKind::Bool(b) => b.to_string(),
        ValueKind::Duration { text, .. } => text.clone(),
        ValueKind::Ref { head, field } => match field {
            Some(f) => format!("{}.{}", head.name, f.name),
            None => head.name.clone(),
        },
        ValueKind::List(items) => {
            let parts: Option<Vec<String>> = items.iter().map(inline).collect();
            format!("[{}]", parts?.join(", "))
        }
        ValueKind::Map(entries) if entries.is_empty() => "{}".to_string(),
        ValueKind::Map(entries) => {
            let parts: Option<Vec<String>> = entries
                .iter()
                .map(|e| {
                    Some(format!(
                        "{} = {}",
                        key(e.quoted, &e.key.value),
                        inline(&e.value)?
                    ))
                })
                .collect();
            format!("{{ {} }}", parts?.join(", "))
        }
    })
}

/// A map key as written canonically: bare when it can be, else quoted.
fn key(quoted: bool, k: &str) -> String {
    if quoted { quote_key(k) } else { k.to_string() }
}

/// The offset of the first `{` at or after `from`.
fn brace_after(text: &str, from: usize) -> usize {
    text.get(from..)
        .and_then(|rest| rest.find('{'))
        .map_or(from, |i| from + i)
}
