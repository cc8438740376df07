//! Text to AST: runs the pest grammar (`grammar/runbook.pest`) and lowers its pairs into the
//! typed, spanned tree of `ast`, one function per grammar rule (as pest_meta does).
//!
//! The grammar guarantees the shape of the pairs, but nothing here unwraps on it: a pair that
//! is not where the grammar says becomes an internal-error diagnostic, never a panic.

use std::sync::Arc;

use pest::Parser as _;
use pest::iterators::{Pair, Pairs};

use super::ast::{
    Entry, Field, File, Ident, Item, Param, Path, PathItem, Runbook, Step, Str, Value, ValueKind,
};
use super::diagnostic::{Code, Diagnostic};
use super::scan;
use super::source::{Source, Span};
use super::suggest::join_or;

#[derive(pest_derive::Parser)]
#[grammar = "../grammar/runbook.pest"]
struct Grammar;

/// Parses a whole source into an AST, or returns every problem found on the way.
pub(crate) fn parse(source: &Arc<Source>) -> Result<File, Vec<Diagnostic>> {
    let scanned = scan::scan(source)?;
    let pairs = match Grammar::parse(Rule::file, &source.text) {
        Ok(pairs) => pairs,
        Err(plain) => {
            // Parsed again, tracking every token tried, so that the error names the tokens
            // (`}`, `,`, a newline) expected where parsing stopped, not only the rules. Only
            // when it failed: the tracking allocates for every token tried, half of a good
            // file's parse. pest's switch is process-wide and never turned off again, so a
            // parse on another thread is at worst tracked, never an error left untracked.
            pest::set_error_detail(true);
            let e = Grammar::parse(Rule::file, &source.text)
                .err()
                .unwrap_or(plain);
            return Err(vec![syntax_error(source, &e)]);
        }
    };
    let mut lower = Lower {
        source,
        errors: Vec::new(),
    };
    let runbooks = lower.file(pairs);
    if lower.errors.is_empty() {
        Ok(File {
            source: Arc::clone(source),
            runbooks,
            comments: scanned.comments,
        })
    } else {
        Err(lower.errors)
    }
}

/// Reads a `--set NAME=VALUE` value: a number, `true`/`false`, a duration, a "quoted string" or
/// a list when it is written as one; anything else (`web`, `subnet-0abc`) is the text itself.
pub fn parse_set_value(text: &str) -> ValueKind {
    let plain = || ValueKind::Str(text.to_string());
    let source = Source::new("--set", text);
    if super::scan::scan(&source).is_err() {
        return plain();
    }
    let Ok(mut pairs) = Grammar::parse(Rule::set_value, text) else {
        return plain();
    };
    let Some(value) = pairs.next().and_then(|p| p.into_inner().next()) else {
        return plain();
    };
    let mut lower = Lower {
        source: &source,
        errors: Vec::new(),
    };
    match lower.value(value) {
        Some(v) if lower.errors.is_empty() && !has_ref(&v.kind) => v.kind,
        _ => plain(),
    }
}

fn has_ref(kind: &ValueKind) -> bool {
    match kind {
        ValueKind::Ref { .. } => true,
        ValueKind::List(items) => items.iter().any(|v| has_ref(&v.kind)),
        ValueKind::Map(entries) => entries.iter().any(|e| has_ref(&e.value.kind)),
        _ => false,
    }
}

/// Lowering state: the source for spans, and the errors found so far (numbers out of range).
struct Lower<'s> {
    source: &'s Source,
    errors: Vec<Diagnostic>,
}

impl Lower<'_> {
    fn span(&self, pair: &Pair<'_, Rule>) -> Span {
        let s = pair.as_span();
        self.source.span(s.start(), s.end())
    }

    /// `file = { SOI ~ (runbook)* ~ EOI }`
    fn file(&mut self, mut pairs: Pairs<'_, Rule>) -> Vec<Runbook> {
        let Some(file) = pairs.next() else {
            return Vec::new();
        };
        file.into_inner()
            .filter(|p| p.as_rule() == Rule::runbook)
            .filter_map(|p| self.runbook(p))
            .collect()
    }

    /// `runbook = { "runbook" ~ string ~ "{" ~ items ~ "}" }`
    fn runbook(&mut self, pair: Pair<'_, Rule>) -> Option<Runbook> {
        let span = self.span(&pair);
        let mut inner = pair
            .into_inner()
            .filter(|p| p.as_rule() != Rule::kw_runbook);
        let pair = self.expect(inner.next(), span)?;
        let name = self.string(pair);
        let items = inner
            .filter_map(|p| match p.as_rule() {
                Rule::setting => self.field(p).map(Item::Setting),
                Rule::param => self.param(p).map(Item::Param),
                Rule::path => self.path(p).map(Item::Path),
                Rule::step => self.step(p).map(Item::Step),
                _ => None,
            })
            .collect();
        Some(Runbook { name, items, span })
    }

    /// `param = { "param" ~ ident ~ ("=" ~ value)? }`
    fn param(&mut self, pair: Pair<'_, Rule>) -> Option<Param> {
        let span = self.span(&pair);
        let mut inner = pair.into_inner().filter(|p| p.as_rule() != Rule::kw_param);
        let pair = self.expect(inner.next(), span)?;
        let name = self.ident(pair);
        let (mut default, mut secret) = (None, None);
        match inner.next() {
            Some(p) if p.as_rule() == Rule::kw_secret => secret = Some(self.span(&p)),
            Some(v) => default = Some(self.value(v)?),
            None => {}
        }
        // pest keeps the blanks and comment it skipped looking for `= value`: end the span at
        // what was written.
        let end = default
            .as_ref()
            .map(|v| v.span.end)
            .or(secret.map(|s| s.end))
            .unwrap_or(name.span.end);
        let span = self.source.span(span.start, end);
        Some(Param {
            name,
            default,
            secret,
            span,
        })
    }

    /// `path = { "path" ~ ident ~ "{" ~ (step | setting)* ~ "}" }`
    fn path(&mut self, pair: Pair<'_, Rule>) -> Option<Path> {
        let span = self.span(&pair);
        let mut inner = pair.into_inner().filter(|p| p.as_rule() != Rule::kw_path);
        let pair = self.expect(inner.next(), span)?;
        let name = self.ident(pair);
        let items = inner
            .filter_map(|p| match p.as_rule() {
                Rule::setting => self.field(p).map(PathItem::Setting),
                Rule::step => self.step(p).map(PathItem::Step),
                _ => None,
            })
            .collect();
        Some(Path { name, items, span })
    }

    /// `step = { "step" ~ ident ~ "=" ~ ident ~ fields }`
    fn step(&mut self, pair: Pair<'_, Rule>) -> Option<Step> {
        let span = self.span(&pair);
        let mut inner = pair.into_inner().filter(|p| p.as_rule() != Rule::kw_step);
        let pair = self.expect(inner.next(), span)?;
        let name = self.ident(pair);
        let pair = self.expect(inner.next(), span)?;
        let action = self.ident(pair);
        let pair = self.expect(inner.next(), span)?;
        let fields = self.fields(pair);
        Some(Step {
            name,
            action,
            fields,
            span,
        })
    }

    /// `fields = { "{" ~ field* ~ "}" }`
    fn fields(&mut self, pair: Pair<'_, Rule>) -> Vec<Field> {
        pair.into_inner().filter_map(|p| self.field(p)).collect()
    }

    /// `field = { ident ~ "=" ~ value }`, and `setting`, which has the same shape.
    fn field(&mut self, pair: Pair<'_, Rule>) -> Option<Field> {
        let span = self.span(&pair);
        let mut inner = pair.into_inner();
        let pair = self.expect(inner.next(), span)?;
        let name = self.ident(pair);
        let pair = self.expect(inner.next(), span)?;
        let value = self.value(pair)?;
        Some(Field { name, value, span })
    }

    /// `value = _{ duration | integer | boolean | string | list | map | reference }`
    fn value(&mut self, pair: Pair<'_, Rule>) -> Option<Value> {
        let span = self.span(&pair);
        let kind = match pair.as_rule() {
            Rule::duration => self.duration(&pair)?,
            Rule::integer => self.integer(&pair)?,
            Rule::boolean => ValueKind::Bool(pair.as_str() == "true"),
            Rule::string => ValueKind::Str(self.string(pair).value),
            Rule::list => self.list(pair),
            Rule::map => self.map(pair),
            Rule::reference => self.reference(pair, span)?,
            _ => return self.internal(span, "a value"),
        };
        Some(Value { kind, span })
    }

    /// `duration = @{ (digits ~ unit)+ }`: summed into seconds, checked for overflow.
    fn duration(&mut self, pair: &Pair<'_, Rule>) -> Option<ValueKind> {
        let text = pair.as_str();
        let mut seconds: u64 = 0;
        let mut number: u64 = 0;
        let mut overflow = false;
        for c in text.chars() {
            if let Some(d) = c.to_digit(10) {
                match number
                    .checked_mul(10)
                    .and_then(|n| n.checked_add(u64::from(d)))
                {
                    Some(n) => number = n,
                    None => overflow = true,
                }
                continue;
            }
            let unit = match c {
                'd' => 86_400,
                'h' => 3_600,
                'm' => 60,
                _ => 1,
            };
            match number
                .checked_mul(unit)
                .and_then(|n| seconds.checked_add(n))
            {
                Some(s) => seconds = s,
                None => overflow = true,
            }
            number = 0;
        }
        if overflow || seconds > super::limits::MAX_DURATION_SECONDS {
            let span = self.span(pair);
            self.errors.push(
                Diagnostic::new(Code::Overflow, span, "duration too large")
                    .label("more than 10 years")
                    .hint("durations are at most 3650d"),
            );
            return None;
        }
        Some(ValueKind::Duration {
            seconds,
            text: text.to_string(),
        })
    }

    /// `integer = @{ "-"? ~ digits }`
    fn integer(&mut self, pair: &Pair<'_, Rule>) -> Option<ValueKind> {
        if let Ok(n) = pair.as_str().parse::<i64>() {
            Some(ValueKind::Int(n))
        } else {
            let span = self.span(pair);
            self.errors.push(
                Diagnostic::new(Code::Overflow, span, "integer too large")
                    .label("does not fit in 64 bits"),
            );
            None
        }
    }

    /// `list = { "[" ~ value* ~ "]" }`
    fn list(&mut self, pair: Pair<'_, Rule>) -> ValueKind {
        ValueKind::List(pair.into_inner().filter_map(|p| self.value(p)).collect())
    }

    /// `map = { "{" ~ entry* ~ "}" }`
    fn map(&mut self, pair: Pair<'_, Rule>) -> ValueKind {
        ValueKind::Map(pair.into_inner().filter_map(|p| self.entry(p)).collect())
    }

    /// `entry = { (ident | string) ~ "=" ~ value }`
    fn entry(&mut self, pair: Pair<'_, Rule>) -> Option<Entry> {
        let span = self.span(&pair);
        let mut inner = pair.into_inner();
        let key_pair = self.expect(inner.next(), span)?;
        let quoted = key_pair.as_rule() == Rule::string;
        let key = if quoted {
            self.string(key_pair)
        } else {
            let id = self.ident(key_pair);
            Str {
                value: id.name,
                span: id.span,
            }
        };
        let pair = self.expect(inner.next(), span)?;
        let value = self.value(pair)?;
        Some(Entry {
            key,
            quoted,
            value,
            span,
        })
    }

    /// `reference = ${ ident ~ ("." ~ ident)? }`
    fn reference(&mut self, pair: Pair<'_, Rule>, span: Span) -> Option<ValueKind> {
        let mut inner = pair.into_inner();
        let pair = self.expect(inner.next(), span)?;
        let head = self.ident(pair);
        let field = inner.next().map(|p| self.ident(p));
        Some(ValueKind::Ref { head, field })
    }

    /// `string = ${ "\"" ~ string_inner ~ "\"" }`, unescaped (the scan has vetted the escapes).
    fn string(&self, pair: Pair<'_, Rule>) -> Str {
        let span = self.span(&pair);
        let raw = pair.as_str();
        let inner = raw
            .strip_prefix('"')
            .and_then(|s| s.strip_suffix('"'))
            .unwrap_or(raw);
        Str {
            value: unescape(inner),
            span,
        }
    }

    /// `ident = @{ (alpha | "_") ~ (alnum | "_")* }`
    fn ident(&self, pair: Pair<'_, Rule>) -> Ident {
        Ident {
            name: pair.as_str().to_string(),
            span: self.span(&pair),
        }
    }

    /// The next pair where the grammar guarantees one.
    fn expect<'i>(&mut self, pair: Option<Pair<'i, Rule>>, span: Span) -> Option<Pair<'i, Rule>> {
        if pair.is_none() {
            self.internal::<()>(span, "a part the grammar requires");
        }
        pair
    }

    fn internal<T>(&mut self, span: Span, what: &str) -> Option<T> {
        self.errors.push(
            Diagnostic::new(
                Code::Syntax,
                span,
                format!("internal error: expected {what} here"),
            )
            .hint("this is a bug in rebound; please report it with the runbook"),
        );
        None
    }
}

/// Undoes the four escapes of the language.
pub(crate) fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

/// Turns pest's error into a diagnostic that names what was expected in the user's words:
/// the tokens and rules pest tried at the furthest position it reached.
fn syntax_error(source: &Source, error: &pest::error::Error<Rule>) -> Diagnostic {
    let (mut start, mut end) = match error.location {
        pest::error::InputLocation::Pos(p) => (p, p),
        pest::error::InputLocation::Span((s, e)) => (s, e),
    };
    let mut expected: Vec<&str> = match &error.variant {
        pest::error::ErrorVariant::ParsingError { positives, .. } => {
            positives.iter().filter_map(|r| rule_name(*r)).collect()
        }
        pest::error::ErrorVariant::CustomError { .. } => Vec::new(),
    };
    if let Some(attempts) = error.parse_attempts() {
        let tokens: Vec<&str> = attempts
            .expected_tokens()
            .iter()
            .filter_map(|t| token_name(&t.to_string()))
            .collect();
        if attempts.max_position > start && !tokens.is_empty() {
            // pest's rule-level error stopped earlier than the tokens it tried.
            start = attempts.max_position;
            end = start;
            expected = tokens;
        } else if attempts.max_position == start {
            expected.extend(tokens);
        }
    }
    // Before any runbook block, only a runbook block can start.
    let top = source.text[..start.min(source.text.len())]
        .lines()
        .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'));
    if top {
        expected = vec!["`runbook \"NAME\" {`"];
    }
    expected.sort_unstable();
    expected.dedup();
    let start = start.min(source.text.len());
    let found = describe_found(&source.text[start..]);
    let end = if end > start { end } else { start + found.1 };
    let span = source.span(start, end);
    let message = if expected.is_empty() {
        format!("unexpected {}", found.0)
    } else {
        format!("expected {}, found {}", join_or(&expected), found.0)
    };
    let hint = syntax_hint(&expected, &found.0);
    Diagnostic::new(Code::Syntax, span, message)
        .label("here")
        .maybe_hint(hint)
}

/// A literal token of the grammar, as the user would call it.
fn token_name(token: &str) -> Option<&'static str> {
    Some(match token {
        "}" => "`}`",
        "]" => "`]`",
        "{" => "`{`",
        "," => "`,`",
        "=" => "`=`",
        "." => "`.`",
        "\n" | "\r\n" | "\r" => "a newline",
        "\"" => "a string",
        "[" | "true" | "false" | "-" => "a value",
        _ => return None,
    })
}

/// What stands at the error: a short description and its length in bytes.
fn describe_found(rest: &str) -> (String, usize) {
    let Some(c) = rest.chars().next() else {
        return ("the end of the file".to_string(), 0);
    };
    if c == '\n' || c == '\r' {
        return ("the end of the line".to_string(), 0);
    }
    let word: String = rest
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == '-' || *c == '.')
        .take(40)
        .collect();
    if word.is_empty() {
        (format!("`{c}`"), c.len_utf8())
    } else {
        (format!("`{word}`"), word.len())
    }
}

fn rule_name(rule: Rule) -> Option<&'static str> {
    Some(match rule {
        Rule::runbook | Rule::kw_runbook => "`runbook \"NAME\" {`",
        Rule::param | Rule::kw_param => "`param`",
        Rule::path | Rule::kw_path => "`path`",
        Rule::step | Rule::kw_step => "`step`",
        Rule::setting | Rule::field | Rule::ident => "a name",
        Rule::fields => "`{`",
        Rule::entry => "a map entry `Key = value`",
        Rule::string | Rule::string_inner => "a string",
        Rule::duration
        | Rule::integer
        | Rule::boolean
        | Rule::list
        | Rule::map
        | Rule::reference => "a value",
        Rule::EOI => "the end of the file",
        _ => return None,
    })
}

fn syntax_hint(expected: &[&str], found: &str) -> Option<String> {
    let keyword = ["`runbook`", "`param`", "`path`", "`step`"].contains(&found);
    let hint = if keyword && expected.contains(&"a name") {
        format!("{found} is a keyword and cannot be used as a name")
    } else if found == "the end of the file" && expected.contains(&"`}`") {
        "a `}` is missing: every `{` needs its `}`".to_string()
    } else if expected.contains(&"a value") {
        "a value is a \"string\", a number, a duration (15m), true/false, a [list], a { map } or a name"
            .to_string()
    } else if expected.contains(&"`=`") {
        "fields are written `name = value`".to_string()
    } else if expected.contains(&"`,`") || expected.contains(&"a newline") {
        "separate fields with a newline or a comma".to_string()
    } else {
        return None;
    };
    Some(hint)
}
