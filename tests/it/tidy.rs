//! Tidy: the invariants of ARCHITECTURE.md that can be checked by reading the code as text, in
//! the style of rust-analyzer's `xtask/src/tidy.rs`. A rule written only in prose drifts as soon
//! as a file moves; a rule here fails `cargo test` with the file and line that broke it. Each
//! test collects every offence and fails once, listing them all. The rules are the tables just
//! below: edit those, not the code, when the architecture changes. Only std, and deliberately
//! naive reading (comments and literals blanked out, braces counted), so it needs no build.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Directories whose every .rs file must start with a `//!` saying why it exists.
const DOCUMENTED: &[&str] = &["src", "tests/it"];

/// The only files in src/ that may write to the terminal: errors are data until `main` renders
/// them once, and results go through the CLI's one output module.
const MAY_PRINT: &[&str] = &["src/main.rs", "src/cli/output.rs"];
const MACROS: &[&str] = &["print!", "println!", "eprint!", "eprintln!", "dbg!"];
const CALLS: &[&str] = &[
    "std::io::stdout(",
    "std::io::stderr(",
    "io::stdout(",
    "io::stderr(",
];

/// Only the AWS backend knows the SDK; every other layer sees `Cloud` and `CloudError`.
const SDK_HOME: &str = "src/cloud/aws/";
const SDK_CRATES: &[&str] = &[
    "aws_sdk_",
    "aws_config",
    "aws_smithy",
    "aws_credential_types",
];

/// Module prefixes that are the binary (src/main.rs is the node `main`); the rest of src/ is the
/// library. In `LAYERS`, "*" as the importer is every library module, and as the forbidden
/// side every module outside the importer. A prefix covers a module and all below it.
const BINARY: &[&str] = &["main", "cli"];
#[rustfmt::skip] // a table, kept one rule a line
const LAYERS: &[(&str, &str, &str)] = &[
    ("runbook", "exec",     "the language knows nothing of running"),
    ("runbook", "plan",     "plan consumes checked::Runbook, not the reverse"),
    ("runbook", "cloud",    "the language knows nothing of backends"),
    ("runbook", "evidence", "the language knows nothing of reports"),
    ("runbook", "ops",      "ops schedules runbooks, not the reverse"),
    ("runbook", "cli",      "the language knows no terminal"),
    ("plan",    "exec",     "a plan is made before, and without, a run"),
    ("plan",    "cli",      "the planner knows no terminal"),
    ("secret",  "*",        "secret is the leaf every layer scrubs through; it depends on none"),
    ("cloud",   "exec",     "retry and fallback are decided once, in exec; backends only answer"),
    ("cloud",   "plan",     "backends know operations, not plans"),
    ("cloud",   "evidence", "evidence stores go through cloud::aws::s3, not the reverse"),
    ("policy",  "exec",     "a policy follows from the runbook alone, before any run"),
    ("preflight::named", "exec", "what a runbook names follows from the runbook alone; policy reads it"),
    ("action",  "exec::scheduler", "actions use exec's services, never the scheduler that runs them"),
    ("action",  "plan",     "an action knows its own cost; the plan adds the costs up"),
    ("exec::api",     "plan", "the run services know steps, not plans"),
    ("exec::ctx",     "plan", "the run services know steps, not plans"),
    ("exec::journal", "plan", "the run services know steps, not plans"),
    ("exec::model",   "plan", "the run services know steps, not plans"),
    ("exec::poller",  "plan", "the run services know steps, not plans"),
    ("*",       "cli",      "the library knows no terminal; the CLI is the binary's"),
];
/// Paths that name this crate. `rebound::` (the library, as the binary names it) is read as
/// `crate::`, so the graph is the same before and after cli/ moves under main.rs.
const ROOTS: &[&str] = &["crate", "rebound", "self", "super"];

/// Tracked files that are not searched for citations of Markdown documents.
const UNCITED: &[&str] = &[
    "Cargo.lock",
    "target/",
    "tests/fixtures/",
    "tests/it/tidy.rs",
];
/// `.md` names that rebound and the bench write (reports, the summary), not documents.
const WRITTEN_MD: &[&str] = &["report.md", "summary.md"];
/// A sibling checkout: whatever it holds, it is not part of this repository.
const OUTSIDE: &str = "../shared/";

fn root() -> PathBuf {
    // Cargo sets it; a standalone `rustc --test` build runs from the repository's root.
    PathBuf::from(option_env!("CARGO_MANIFEST_DIR").unwrap_or("."))
}

/// One assertion per check, listing every offence, so a failing run shows the whole job.
fn assert_none(what: &str, offences: &[String]) {
    let n = offences.len();
    assert!(n == 0, "{what} ({n}):\n  {}\n", offences.join("\n  "));
}

/// Every .rs file under `dir`, as sorted repo-relative paths.
fn rust_files(dir: &str) -> Vec<String> {
    let (mut todo, mut files) = (vec![dir.to_string()], Vec::new());
    while let Some(dir) = todo.pop() {
        let entries = fs::read_dir(root().join(&dir)).into_iter().flatten();
        for entry in entries.flatten() {
            let path = format!("{dir}/{}", entry.file_name().to_string_lossy());
            if entry.path().is_dir() {
                todo.push(path);
            } else if path.ends_with(".rs") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

fn read(file: &str) -> String {
    fs::read_to_string(root().join(file)).unwrap_or_else(|e| panic!("reading {file}: {e}"))
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// The text with comments and the insides of string and char literals blanked to spaces, every
/// newline kept: what is left is code, at its own line numbers, with only code's braces.
fn code_of(text: &str) -> String {
    #[derive(Clone, Copy)]
    enum In {
        Code,
        Line,
        Block(u32), // block comments nest
        Str(char),  // " or '
        Raw(usize), // r#"...", by its number of #s
    }
    let c: Vec<char> = text.chars().collect();
    let at = |k: usize| c.get(k).copied().unwrap_or(' ');
    // `r"`, `r#"`, `br"`: the number of #s of a raw string opening at `i`.
    let raw = |i: usize| {
        let starts =
            i == 0 || !is_ident(c[i - 1]) || c[i - 1] == 'b' && (i < 2 || !is_ident(c[i - 2]));
        let n = c[i + 1..].iter().take_while(|&&h| h == '#').count();
        (c[i] == 'r' && starts && at(i + 1 + n) == '"').then_some(n)
    };
    let (mut out, mut mode, mut i) = (String::with_capacity(text.len()), In::Code, 0);
    while i < c.len() {
        let (ch, next) = (c[i], at(i + 1));
        // What comes next, whether this char is kept (else blanked), and how many it takes.
        let (then, keep, width) = match mode {
            In::Code if ch == '/' && next == '/' => (In::Line, false, 1),
            In::Code if ch == '/' && next == '*' => (In::Block(1), false, 2),
            In::Code if ch == '"' => (In::Str('"'), true, 1),
            // 'x' and '\n' are chars; a lone ' is a lifetime or a label.
            In::Code if ch == '\'' && (next == '\\' || at(i + 2) == '\'') => (In::Str(ch), true, 1),
            In::Code => match raw(i) {
                Some(n) => (In::Raw(n), true, n + 2),
                None => (In::Code, true, 1),
            },
            In::Line if ch == '\n' => (In::Code, true, 1),
            In::Block(d) if ch == '/' && next == '*' => (In::Block(d + 1), false, 2),
            In::Block(1) if ch == '*' && next == '/' => (In::Code, false, 2),
            In::Block(d) if ch == '*' && next == '/' => (In::Block(d - 1), false, 2),
            In::Str(_) if ch == '\\' => (mode, false, 2),
            In::Str(q) if ch == q => (In::Code, true, 1),
            In::Raw(n) if ch == '"' && (1..=n).all(|k| at(i + k) == '#') => (In::Code, true, n + 1),
            In::Line | In::Block(_) | In::Str(_) | In::Raw(_) => (mode, false, 1),
        };
        for &ch in &c[i..c.len().min(i + width)] {
            out.push(if keep || ch == '\n' { ch } else { ' ' });
        }
        (mode, i) = (then, i + width);
    }
    out
}

/// Code with the body of every `#[cfg(test)] mod NAME {` emptied, lines kept: unit tests may
/// print, and may reach whatever they test.
fn without_unit_tests(code: &str) -> String {
    let (mut out, mut after_cfg, mut inside, mut depth) = (Vec::new(), false, false, 0);
    for line in code.lines() {
        let t = line.trim();
        // `mod x {`, `pub mod x {`, `pub(crate) mod x {`, `pub(in crate::x) mod x {`
        let opens_mod = t.starts_with("mod ") || t.starts_with("pub") && t.contains(" mod ");
        if after_cfg && !inside && opens_mod && t.ends_with('{') {
            (inside, depth) = (true, 0);
        }
        if !t.is_empty() {
            after_cfg = t == "#[cfg(test)]";
        }
        out.push(if inside { "" } else { line });
        if inside {
            depth += line.matches('{').count() as i64 - line.matches('}').count() as i64;
            inside = depth > 0;
        }
    }
    out.join("\n")
}

/// Where the needles occur in code, not as the tail of a longer name, one per line at most:
/// (line, the needle run on to the end of its name: `aws_sdk_` as `aws_sdk_ec2`).
fn occurrences(code: &str, needles: &[&str]) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    for (n, line) in code.lines().enumerate() {
        let mut hits = needles.iter().flat_map(|needle| line.match_indices(needle));
        if let Some((at, needle)) = hits.find(|(at, _)| !line[..*at].ends_with(is_ident)) {
            let tail = &line[at + needle.len()..];
            let name = &tail[..tail.find(|c| !is_ident(c)).unwrap_or(tail.len())];
            found.push((n + 1, format!("{needle}{name}")));
        }
    }
    found
}

#[test]
fn every_module_says_why_it_exists() {
    let mut offences = Vec::new();
    for file in DOCUMENTED.iter().flat_map(|dir| rust_files(dir)) {
        let text = read(&file);
        let mut lines = text.lines().enumerate();
        let (n, first) = lines.find(|(_, l)| !l.trim().is_empty()).unwrap_or((0, ""));
        if !first.trim_start().starts_with("//!") {
            let n = n + 1;
            offences.push(format!(
                "{file}:{n} opens without a `//!` saying why it exists"
            ));
        }
    }
    assert_none("modules that do not say why they exist", &offences);
}

#[test]
fn only_main_and_the_output_module_print() {
    let mut offences = Vec::new();
    for file in rust_files("src") {
        if MAY_PRINT.contains(&file.as_str()) {
            continue;
        }
        let code = without_unit_tests(&code_of(&read(&file)));
        for (line, what) in occurrences(&code, &[MACROS, CALLS].concat()) {
            offences.push(format!("{file}:{line} uses {what}"));
        }
    }
    let what = format!("terminal output outside {}", MAY_PRINT.join(" and "));
    assert_none(&what, &offences);
}

#[test]
fn only_the_aws_backend_imports_the_sdk() {
    let mut offences = Vec::new();
    for file in rust_files("src") {
        if file.starts_with(SDK_HOME) {
            continue;
        }
        for (line, what) in occurrences(&code_of(&read(&file)), SDK_CRATES) {
            offences.push(format!("{file}:{line} names {what}"));
        }
    }
    assert_none(&format!("the AWS SDK outside {SDK_HOME}"), &offences);
}

// ---- The module graph ----

/// A src/ file's node in the graph, and the module its `self::` and `super::` start from.
fn module_of(file: &str) -> (String, Vec<String>) {
    let rel = &file["src/".len()..file.len() - ".rs".len()];
    let mut segs: Vec<String> = rel.split('/').map(String::from).collect();
    segs.retain(|s| s != "mod" && !matches!(rel, "lib" | "main"));
    let node = if rel == "main" {
        "main".into()
    } else {
        segs.join("::")
    };
    (node, segs)
}

/// Names, `::`, and single chars, each with its line.
fn tokens(code: &str) -> Vec<(usize, &str)> {
    let mut toks = Vec::new();
    for (n, mut rest) in code.lines().enumerate() {
        while let Some(c) = rest.chars().next() {
            let len = match c {
                _ if is_ident(c) => rest.find(|c| !is_ident(c)).unwrap_or(rest.len()),
                ':' if rest.starts_with("::") => 2,
                _ => c.len_utf8(),
            };
            if !c.is_whitespace() {
                toks.push((n + 1, &rest[..len]));
            }
            rest = &rest[len..];
        }
    }
    toks
}

/// Every path rooted at this crate, with its line: a `use` tree gives one path per leaf, an
/// inline path (`crate::x::f(..)`, read as a use tree without braces) runs to its last name.
fn crate_paths(code: &str) -> Vec<Found<'_>> {
    let toks = tokens(code);
    let (mut out, mut i) = (Vec::new(), 0);
    while i < toks.len() {
        let prev = |k: usize| if i >= k { toks[i - k].1 } else { "" };
        let path_here = ROOTS.contains(&toks[i].1) && toks.get(i + 1).is_some_and(|t| t.1 == "::");
        // `$crate::` is a macro's, and `pub(in crate::x)` is a visibility, not an import.
        let not_import = matches!(prev(1), "::" | "$") || prev(1) == "in" && prev(2) == "(";
        if toks[i].1 == "use" {
            i = use_tree(&toks, i + 1, Vec::new(), &mut out);
        } else if path_here && !not_import {
            i = use_tree(&toks, i, Vec::new(), &mut out);
        } else {
            i += 1;
        }
    }
    out.retain(|(_, path)| ROOTS.contains(&path[0]));
    out
}

/// A path found in code: its line and its segments.
type Found<'a> = (usize, Vec<&'a str>);

/// The `use` tree at token `i`, under `path`: pushes a path per leaf, returns where it ends.
fn use_tree<'a>(
    t: &[(usize, &'a str)],
    mut i: usize,
    mut path: Vec<&'a str>,
    out: &mut Vec<Found<'a>>,
) -> usize {
    let (start, mut line) = (i, t.get(i).map_or(0, |t| t.0));
    while let Some(&(n, tok)) = t.get(i) {
        i += 1;
        // Names, `{` and `*` start the tree or follow `::`: `T for` (in `impl crate::T for`)
        // and `S {` (a struct literal after an inline path) end it.
        let fresh = i - 1 == start || t[i - 2].1 == "::";
        match tok {
            "::" => {}
            "*" if fresh => {}
            "as" => i += 1, // and the alias
            "{" if fresh => {
                while t.get(i).is_some_and(|t| t.1 != "}") {
                    let end = use_tree(t, i, path.clone(), out);
                    if end == i {
                        return i; // not a use tree after all
                    }
                    i = end + usize::from(t.get(end).is_some_and(|t| t.1 == ","));
                }
                return i + 1;
            }
            "self" if !path.is_empty() => line = n, // `a::{self}` is `a`
            _ if fresh && tok.starts_with(is_ident) => {
                path.push(tok);
                line = n;
            }
            _ => {
                i -= 1; // `,` `}` `;` end the tree: the caller's
                break;
            }
        }
    }
    if !path.is_empty() {
        out.push((line, path));
    }
    i
}

/// `path`, read in module `scope`, as the module that defines it: its longest prefix that is a
/// module of `modules` (empty for the crate root).
fn resolve(scope: &[String], path: &[&str], modules: &BTreeSet<Vec<String>>) -> String {
    let supers = path.iter().take_while(|s| **s == "super").count();
    let mut target = match path[0] {
        "self" | "super" => scope[..scope.len().saturating_sub(supers)].to_vec(),
        _ => Vec::new(), // crate, rebound
    };
    target.extend(path[supers.max(1)..].iter().map(ToString::to_string));
    while !modules.contains(&target) {
        target.pop();
    }
    target.join("::")
}

struct Import {
    file: String,
    line: usize,
    from: String,
    to: String,
}

/// Every import of one module by another in src/, unit tests (tests.rs, test modules) left out.
fn imports() -> Vec<Import> {
    let mut files = rust_files("src");
    files.retain(|f| !f.ends_with("/tests.rs"));
    let mut modules: BTreeSet<Vec<String>> = files.iter().map(|f| module_of(f).1).collect();
    modules.insert(Vec::new()); // the root, where resolution stops
    let mut imports = Vec::new();
    for file in &files {
        let (from, scope) = module_of(file);
        let code = without_unit_tests(&code_of(&read(file)));
        for (line, path) in crate_paths(&code) {
            let to = resolve(&scope, &path, &modules);
            if !to.is_empty() && to != from {
                let (file, from) = (file.clone(), from.clone());
                imports.push(Import {
                    file,
                    line,
                    from,
                    to,
                });
            }
        }
    }
    imports
}

fn under(module: &str, prefix: &str) -> bool {
    let rest = module.strip_prefix(prefix);
    rest.is_some_and(|r| r.is_empty() || r.starts_with("::"))
}

#[test]
fn layers_import_only_downward() {
    let mut offences = Vec::new();
    for i in imports() {
        let in_library = !BINARY.iter().any(|b| under(&i.from, b));
        let broken = LAYERS
            .iter()
            .find(|(importer, forbidden, _)| match (*importer, *forbidden) {
                ("*", forbidden) => in_library && under(&i.to, forbidden),
                (importer, "*") => under(&i.from, importer) && !under(&i.to, importer),
                (importer, forbidden) => under(&i.from, importer) && under(&i.to, forbidden),
            });
        if let Some((_, _, why)) = broken {
            offences.push(format!(
                "{}:{} imports crate::{} ({why})",
                i.file, i.line, i.to
            ));
        }
    }
    assert_none("imports against the layers", &offences);
}

type Graph = BTreeMap<String, BTreeSet<String>>;

#[test]
fn modules_form_no_cycle() {
    let mut graph = Graph::new();
    for i in imports() {
        graph.entry(i.to.clone()).or_default();
        graph.entry(i.from).or_default().insert(i.to);
    }
    let mut cycles = Vec::new();
    for knot in strongly_connected(&graph) {
        let cycle = shortest_cycle(&graph, &knot);
        let mut shown = cycle.join(" -> ");
        // One cycle shows the knot; the rest of its modules say how big it is.
        let others: Vec<String> = knot.into_iter().filter(|m| !cycle.contains(m)).collect();
        if !others.is_empty() {
            shown += &format!(" (knotted with {})", others.join(", "));
        }
        cycles.push(shown);
    }
    assert_none("module cycles, one per strongly connected set", &cycles);
}

/// Kosaraju: the strongly connected sets of more than one module, each sorted.
fn strongly_connected(graph: &Graph) -> Vec<Vec<String>> {
    fn visit<'g>(g: &'g Graph, v: &'g str, seen: &mut BTreeSet<&'g str>, done: &mut Vec<&'g str>) {
        if seen.insert(v) {
            for w in &g[v] {
                visit(g, w, seen, done);
            }
            done.push(v); // after everything it reaches
        }
    }
    let (mut seen, mut order) = (BTreeSet::new(), Vec::new());
    for v in graph.keys() {
        visit(graph, v, &mut seen, &mut order);
    }
    let mut reversed: Graph = graph.keys().map(|v| (v.clone(), BTreeSet::new())).collect();
    for (v, ws) in graph {
        for w in ws {
            reversed.get_mut(w).unwrap().insert(v.clone());
        }
    }
    // In reverse finishing order, what a module reaches against the arrows is its set.
    let (mut seen, mut sets) = (BTreeSet::new(), Vec::new());
    for v in order.iter().rev() {
        let mut set = Vec::new();
        visit(&reversed, v, &mut seen, &mut set);
        if set.len() > 1 {
            set.sort_unstable();
            sets.push(set.into_iter().map(String::from).collect());
        }
    }
    sets
}

/// The shortest cycle through a set's first module, within the set (breadth first).
fn shortest_cycle(graph: &Graph, set: &[String]) -> Vec<String> {
    let start = set[0].as_str();
    let mut parent: BTreeMap<&str, &str> = BTreeMap::new();
    let mut queue = VecDeque::from([start]);
    while let Some(v) = queue.pop_front() {
        for w in graph[v].iter().filter(|w| set.contains(w)) {
            if w == start {
                let mut cycle = vec![v]; // back to start, then turned round
                while let Some(p) = parent.get(cycle[cycle.len() - 1]) {
                    cycle.push(p);
                }
                cycle.reverse();
                cycle.push(start);
                return cycle.into_iter().map(String::from).collect();
            }
            if !parent.contains_key(w.as_str()) {
                parent.insert(w, v);
                queue.push_back(w);
            }
        }
    }
    set.to_vec() // not reached: every module of a set is on a cycle
}

// ---- Documents ----

/// The Markdown documents a line names (`DESIGN.md`, `fuzz/README.md`, `../x/y.md`), but not
/// the files rebound writes.
fn cited_documents(line: &str) -> impl Iterator<Item = &str> {
    let words = line.split(|c: char| !(c.is_ascii_alphanumeric() || "_./-".contains(c)));
    words.map(|w| w.trim_end_matches('.')).filter(|w| {
        let name = w.rsplit('/').next().unwrap_or(w);
        // `//host/x.md` is the tail of a URL; `*.md` and `{}.md` are no name at all.
        let named = name.len() > ".md".len() && name.ends_with(".md") && !w.starts_with("//");
        named && !WRITTEN_MD.contains(&name)
    })
}

/// Every file git tracks (and the work tree still has), repo-relative.
fn tracked_files(root: &Path) -> BTreeSet<String> {
    let git = Command::new("git")
        .args(["ls-files", "-z"])
        .current_dir(root)
        .output();
    let git = git.expect("running git ls-files");
    assert!(
        git.status.success(),
        "git ls-files: {}",
        String::from_utf8_lossy(&git.stderr)
    );
    let listed = String::from_utf8_lossy(&git.stdout);
    listed
        .split('\0')
        .filter(|f| root.join(f).is_file())
        .map(String::from)
        .collect()
}

#[test]
fn documents_the_code_cites_exist() {
    let root = root();
    let tracked = tracked_files(&root);
    let exists = |doc: &Path| normalize(doc).is_some_and(|d| tracked.contains(&d));
    let mut offences = Vec::new();
    for file in tracked
        .iter()
        .filter(|f| !UNCITED.iter().any(|u| f.starts_with(u)))
    {
        let Ok(text) = fs::read_to_string(root.join(file)) else {
            continue; // not text
        };
        let dir = Path::new(file).parent().unwrap_or(Path::new(""));
        for (n, line) in text.lines().enumerate() {
            // Relative to the citing file, or to the root; nothing under ../shared/ counts.
            let mut missing: Vec<&str> = cited_documents(line)
                .filter(|doc| {
                    doc.contains(OUTSIDE) || !exists(&dir.join(doc)) && !exists(Path::new(doc))
                })
                .collect();
            if line.contains(OUTSIDE) && !missing.iter().any(|doc| doc.contains(OUTSIDE)) {
                missing.push(OUTSIDE);
            }
            for doc in missing {
                let n = n + 1;
                offences.push(format!(
                    "{file}:{n} cites {doc}, which is not in the repository"
                ));
            }
        }
    }
    assert_none("documents cited but missing", &offences);
}

/// A repo-relative path with `.` and `..` taken out, or None if it climbs out of the repository.
fn normalize(path: &Path) -> Option<String> {
    let mut parts = Vec::new();
    for part in path.to_str()?.split('/') {
        match part {
            "" | "." => {}
            ".." => _ = parts.pop()?,
            _ => parts.push(part),
        }
    }
    Some(parts.join("/"))
}
