//! A runbook's text and where it came from, plus the `Span` every AST node carries.
//!
//! Spans are byte ranges with the line and column of their start already worked out, so a
//! diagnostic can be rendered from a span alone. The file name lives once, on the `Source`,
//! not in every span: a span is only meaningful next to the source it was cut from.

use std::sync::Arc;

/// The text of one runbook file, read whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// The name shown in diagnostics: the path as the user typed it.
    pub name: String,
    pub text: String,
    /// Byte offset of the first character of every line.
    line_starts: Vec<usize>,
}

impl Source {
    pub fn new(name: impl Into<String>, text: impl Into<String>) -> Arc<Source> {
        let text = text.into();
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Arc::new(Source {
            name: name.into(),
            text,
            line_starts,
        })
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub fn line_col(&self, offset: usize) -> (u32, u32) {
        let offset = offset.min(self.text.len());
        let line = self.line_starts.partition_point(|&start| start <= offset) - 1;
        let start = self.line_starts[line];
        let col = self
            .text
            .get(start..offset)
            .map_or(offset - start, |s| s.chars().count());
        (line as u32 + 1, col as u32 + 1)
    }

    /// A span over `start..end`, with its line and column filled in. The ends are moved out to
    /// character boundaries, so a span can always slice the text.
    pub fn span(&self, start: usize, end: usize) -> Span {
        let len = self.text.len();
        let mut start = start.min(len);
        while !self.text.is_char_boundary(start) {
            start -= 1;
        }
        let mut end = end.clamp(start, len);
        while !self.text.is_char_boundary(end) {
            end += 1;
        }
        let (line, col) = self.line_col(start);
        Span {
            start,
            end,
            line,
            col,
        }
    }

    /// Byte range of the whole lines that `span` touches (without the final newline).
    pub fn line_range(&self, span: Span) -> std::ops::Range<usize> {
        let first = span.line as usize - 1;
        let start = self.line_starts.get(first).copied().unwrap_or(0);
        let end_line = self
            .line_starts
            .partition_point(|&s| s <= span.end.max(span.start))
            - 1;
        let end = self
            .line_starts
            .get(end_line + 1)
            .map_or(self.text.len(), |&next| next - 1);
        let end = end.max(start);
        // Never cut a CRLF file's line before its `\r`.
        let end = if self.text.as_bytes().get(end.wrapping_sub(1)) == Some(&b'\r') && end > start {
            end - 1
        } else {
            end
        };
        start..end
    }
}

/// Where a node stands in its source: bytes `start..end`, starting at `line:col` (1-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize)]
pub struct Span {
    pub start: usize,
    pub end: usize,
    pub line: u32,
    pub col: u32,
}

impl Span {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column_are_one_based_and_count_characters() {
        let src = Source::new("x", "ab\nçd\n\nz");
        assert_eq!(src.line_col(0), (1, 1));
        assert_eq!(src.line_col(3), (2, 1));
        // `ç` is two bytes, one column.
        assert_eq!(src.line_col(5), (2, 2));
        assert_eq!(src.line_col(8), (4, 1));
        assert_eq!(src.line_col(999), (4, 2));
    }

    #[test]
    fn line_range_covers_whole_lines() {
        let src = Source::new("x", "one\ntwo\r\nthree");
        let span = src.span(5, 6);
        assert_eq!(&src.text[src.line_range(span)], "two");
        let span = src.span(0, 12);
        assert_eq!(&src.text[src.line_range(span)], "one\ntwo\r\nthree");
    }
}
