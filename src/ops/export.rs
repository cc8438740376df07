//! Runbook schedules as units for the scheduler a team already runs: systemd timers, a crontab,
//! Kubernetes CronJobs, each starting `rebound run FILE --drill` at the runbook's `schedule`,
//! or `rebound preflight FILE --record` at its `readiness`. Where a team outgrows one
//! machine and its daemon, drills run wherever it already schedules work, and keep the daemon's
//! policy: a drill missed while the machine was off runs once when it is back (systemd
//! `Persistent=true`, Kubernetes `startingDeadlineSeconds`), and a drill never overlaps the one
//! before (a oneshot service, `flock -n`, `concurrencyPolicy: Forbid`). Text only: the CLI
//! reads the runbooks and writes the files.
//!
//! The fields are read as croner reads them (the checker's parser, and `rebound schedule`'s),
//! so a unit fires when `rebound schedule` says: day of month and day of week are ORed when
//! both are restricted (anything but `*`). systemd ANDs them, so that case gets two
//! `OnCalendar=` lines; cron counts a day of month starting with `*` as unrestricted, so steps
//! there are written as ranges. croner's own extensions (`L`, `W`, `#`, `+`) have no
//! equivalent elsewhere and are refused.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::json;

use crate::runbook::schedule::Schedule;

/// The container image a CronJob runs when none is given; its entrypoint is `rebound`.
pub const DEFAULT_IMAGE: &str = "ghcr.io/rebound/rebound:latest";

/// Every unit's name starts so (`Job::prefix`), and `rebound-drill-<slug>` fits Kubernetes' 52
/// characters for a CronJob's name (the controller adds 11 to name each Job).
const PREFIX: &str = "rebound-drill-";
const MAX_SLUG: usize = 52 - PREFIX.len();

/// What a unit starts: a drill, or a readiness check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Job {
    Drill,
    Readiness,
}

impl Job {
    /// As long as `PREFIX`, so that every slug fits.
    fn prefix(self) -> &'static str {
        match self {
            Job::Drill => PREFIX,
            Job::Readiness => "rebound-ready-",
        }
    }

    /// `drill`, `readiness check`: what the logs and the units call it.
    pub fn noun(self) -> &'static str {
        match self {
            Job::Drill => "drill",
            Job::Readiness => "readiness check",
        }
    }
}

/// One runbook's drill, or its readiness check, at its times.
pub struct Drill<'a> {
    pub job: Job,
    pub name: &'a str,
    /// The runbook as the host's units name it (an absolute path).
    pub file: &'a str,
    /// Its text, shipped to Kubernetes in a ConfigMap.
    pub text: &'a str,
    pub schedule: &'a Schedule,
}

/// How each drill is started.
pub struct Options {
    /// The rebound binary on the host (systemd, cron).
    pub rebound: String,
    /// The container image (Kubernetes).
    pub image: String,
    /// Every run's `--backend`.
    pub backend: String,
    /// Each drill writes its reports into `DIR/<slug>`, so drills do not overwrite each
    /// other's (the runbook's latest drill is there; the history keeps every report).
    pub report_dir: Option<String>,
    /// More arguments for every run (`--history s3://...`, `--region ...`).
    pub extra: Vec<String>,
}

/// One file of an export.
#[derive(Debug, Clone, PartialEq)]
pub struct Unit {
    pub name: String,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ExportError {
    #[error(
        "{file}: runbook `{runbook}`: schedule \"{schedule}\" uses {feature}, which systemd, \
         cron and Kubernetes do not share; write it with numbers, names, *, ranges, lists and steps"
    )]
    Unsupported {
        file: String,
        runbook: String,
        schedule: String,
        feature: String,
    },
    #[error("{first} and {second} would both be `{unit}`; rename one of the runbooks")]
    SameName {
        first: String,
        second: String,
        unit: String,
    },
    #[error("{file}: {word:?} holds a control character, which a crontab line cannot carry")]
    ControlCharacter { file: String, word: String },
    #[error("cannot write YAML: {0}")]
    Yaml(String),
}

/// A runbook's name as unit names can carry it: lowercase, runs of anything but [a-z0-9] as
/// one `-`, trimmed, short enough for Kubernetes.
pub fn slug(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    // ASCII only, so any byte is a character boundary.
    out.truncate(MAX_SLUG);
    match out.trim_end_matches('-') {
        "" => "runbook".to_string(),
        s => s.to_string(),
    }
}

/// A `.service` and a `.timer` per drill.
pub fn systemd(drills: &[Drill<'_>], opts: &Options) -> Result<Vec<Unit>, Vec<ExportError>> {
    let units = each(drills, |d, slug| {
        let calendars = on_calendar(&fields(d)?, d.schedule.zone_name());
        let exec: Vec<String> = std::iter::once(opts.rebound.clone())
            .chain(opts.run_args(d.job, d.file, slug))
            .map(|w| systemd_word(&w))
            .collect();
        let name = format!("{}{slug}", d.job.prefix());
        let noun = d.job.noun();
        let from = format!(
            "generated by `rebound schedule export` from {}",
            oneline(d.file)
        );
        let what = unit_value(d.name);
        let service = format!(
            "# {name}.service: {from}\n[Unit]\nDescription=rebound {noun} of runbook {what}\n\
             Wants=network-online.target\nAfter=network-online.target\n\n[Service]\n\
             Type=oneshot\nExecStart={}\n\
             # A stopped drill tears down what it made: give it the time to.\n\
             TimeoutStopSec=30min\n",
            exec.join(" ")
        );
        let mut timer = format!(
            "# {name}.timer: {from}\n[Unit]\nDescription=Schedule of the rebound {noun} of \
             runbook {what}: {}\n\n[Timer]\n",
            d.schedule
        );
        for c in calendars {
            let _ = writeln!(timer, "OnCalendar={c}");
        }
        let _ = write!(
            timer,
            "# A {noun} missed while the machine was off runs once when it is back.\n\
             Persistent=true\n\n[Install]\nWantedBy=timers.target\n"
        );
        Ok([
            (format!("{name}.service"), service),
            (format!("{name}.timer"), timer),
        ])
    })?;
    Ok(units
        .into_iter()
        .flatten()
        .map(|(name, text)| Unit { name, text })
        .collect())
}

/// One crontab fragment, every line under its own `CRON_TZ`.
pub fn crontab(drills: &[Drill<'_>], opts: &Options) -> Result<Vec<Unit>, Vec<ExportError>> {
    let entries = each(drills, |d, slug| {
        // The lock is the runbook file itself: it exists, only its owner's drills hold it,
        // and no other user can take it in a shared /tmp to stop the drills. A readiness
        // check takes a lock of its own beside it (flock makes it), so that two checks never
        // overlap and a check never keeps a drill due at the same minute from starting.
        let lock = match d.job {
            Job::Drill => d.file.to_string(),
            Job::Readiness => format!("{}.readiness.lock", d.file),
        };
        let command = ["flock".to_string(), "-n".into(), lock]
            .into_iter()
            .chain([opts.rebound.clone()])
            .chain(opts.run_args(d.job, d.file, slug))
            .map(|w| shell_word(&w, d.file))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(format!(
            "\n# {} ({})\nCRON_TZ={}\n{} {}\n",
            oneline(d.name),
            oneline(d.file),
            d.schedule.zone_name(),
            fields(d)?.cron(),
            command.join(" ")
        ))
    })?;
    let header = "# rebound drills, generated by `rebound schedule export --format cron`: each line \
                  runs\n# `rebound run RUNBOOK --drill` at its runbook's schedule (or `rebound \
                  preflight RUNBOOK --record` at its\n# readiness); `flock -n` \
                  on the runbook file skips a drill while\n# the one before still runs. CRON_TZ sets the zone of \
                  the lines after it (cronie and\n# others; Debian's cron ignores it and reads \
                  every line in the host's zone).\n";
    Ok(vec![Unit {
        name: "rebound-drills.crontab".into(),
        text: format!("{header}{}", entries.concat()),
    }])
}

/// A ConfigMap holding the runbook and a CronJob running it, per drill, as one YAML stream.
pub fn kubernetes(drills: &[Drill<'_>], opts: &Options) -> Result<Vec<Unit>, Vec<ExportError>> {
    let docs = each(drills, |d, slug| {
        let name = format!("{}{slug}", d.job.prefix());
        let key = format!("{slug}.runbook");
        let labels = json!({
            "app.kubernetes.io/name": "rebound-drill",
            "app.kubernetes.io/instance": slug,
        });
        let map = json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": name, "labels": labels},
            "data": {key.as_str(): d.text},
        });
        let job = json!({
            "apiVersion": "batch/v1",
            "kind": "CronJob",
            "metadata": {"name": name, "labels": labels},
            "spec": {
                "schedule": fields(d)?.cron(),
                // Without a zone the controller's own would be used, and that is not always UTC.
                "timeZone": d.schedule.zone.map_or("Etc/UTC", |z| z.name()),
                "concurrencyPolicy": "Forbid",
                "startingDeadlineSeconds": 3600,
                "successfulJobsHistoryLimit": 3,
                "failedJobsHistoryLimit": 3,
                "jobTemplate": {"spec": {
                    // A failed drill is evidence; running it again would only hide it.
                    "backoffLimit": 0,
                    "template": {
                        "metadata": {"labels": labels},
                        "spec": {
                            "restartPolicy": "Never",
                            "containers": [{
                                "name": "rebound",
                                "image": opts.image,
                                "args": opts.run_args(d.job, &format!("/runbooks/{key}"), slug),
                                "volumeMounts": [
                                    {"name": "runbook", "mountPath": "/runbooks", "readOnly": true}
                                ],
                            }],
                            "volumes": [{"name": "runbook", "configMap": {"name": name}}],
                        },
                    },
                }},
            },
        });
        let mut out = String::new();
        for doc in [map, job] {
            let yaml =
                serde_norway::to_string(&doc).map_err(|e| ExportError::Yaml(e.to_string()))?;
            out.push_str("---\n");
            out.push_str(&yaml);
        }
        Ok(out)
    })?;
    Ok(vec![Unit {
        name: "rebound-drills.yaml".into(),
        text: format!(
            "# rebound drills, generated by `rebound schedule export --format k8s`: per runbook a \
             ConfigMap\n# holding it and a CronJob running `rebound run --drill` on it.\n{}",
            docs.concat()
        ),
    }])
}

/// Of a run's arguments, those `rebound preflight` takes too (the runbook's `--set` values,
/// where to ask, the history): what a readiness check is given of them. Both `--flag value`
/// and `--flag=value`.
pub fn readiness_args(run_args: &[String]) -> Vec<String> {
    const TAKEN: &[&str] = &[
        "--set",
        "--backend",
        "--region",
        "--profile",
        "--endpoint-url",
        "--sim-world",
        "--history",
    ];
    let mut out = Vec::new();
    let mut given = run_args.iter();
    while let Some(a) = given.next() {
        let name = a.split('=').next().unwrap_or(a);
        if !TAKEN.contains(&name) {
            continue;
        }
        out.push(a.clone());
        if !a.contains('=')
            && let Some(value) = given.next()
        {
            out.push(value.clone());
        }
    }
    out
}

impl Options {
    /// `run FILE --drill ...` (or `preflight FILE --record ...`), the arguments after the
    /// binary. A readiness check writes no report.
    fn run_args(&self, job: Job, file: &str, slug: &str) -> Vec<String> {
        let mut args = match job {
            Job::Drill => vec!["run".to_string(), file.to_string(), "--drill".into()],
            Job::Readiness => vec!["preflight".to_string(), file.to_string(), "--record".into()],
        };
        args.extend(["--backend".into(), self.backend.clone()]);
        match job {
            Job::Drill => {
                if let Some(dir) = &self.report_dir {
                    args.push("--report-dir".into());
                    args.push(format!("{}/{slug}", dir.trim_end_matches('/')));
                }
                args.extend(self.extra.iter().cloned());
            }
            // Only what preflight takes: a run's own flags would make it refuse to start.
            Job::Readiness => args.extend(readiness_args(&self.extra)),
        }
        args
    }
}

/// `unit` for every drill, every problem collected; two runbooks whose units would share a
/// name are refused, as one would silently replace the other.
fn each<T>(
    drills: &[Drill<'_>],
    unit: impl Fn(&Drill<'_>, &str) -> Result<T, ExportError>,
) -> Result<Vec<T>, Vec<ExportError>> {
    let mut seen = BTreeMap::new();
    let (mut out, mut errors) = (Vec::new(), Vec::new());
    for d in drills {
        let slug = slug(d.name);
        if let Some(first) = seen.insert((d.job, slug.clone()), d.file) {
            errors.push(ExportError::SameName {
                first: first.to_string(),
                second: d.file.to_string(),
                unit: format!("{}{slug}", d.job.prefix()),
            });
            continue;
        }
        match unit(d, &slug) {
            Ok(t) => out.push(t),
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// Text on one line: a newline in a runbook's name must not end a comment or a setting early.
fn oneline(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// A unit file value; systemd expands `%` specifiers in it.
fn unit_value(s: &str) -> String {
    oneline(s).replace('%', "%%")
}

fn plain(word: &str) -> bool {
    !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._+:=@,-".contains(c))
}

/// One word of `ExecStart=`: C-style quoting, `%` and `$` doubled (specifiers, variables).
fn systemd_word(word: &str) -> String {
    let mut quoted = String::new();
    if plain(word) {
        quoted.push_str(word);
    } else {
        quoted.push('"');
        for c in word.chars() {
            match c {
                '"' | '\\' => {
                    quoted.push('\\');
                    quoted.push(c);
                }
                c if c.is_control() => {
                    for b in c.to_string().bytes() {
                        let _ = write!(quoted, "\\x{b:02x}");
                    }
                }
                c => quoted.push(c),
            }
        }
        quoted.push('"');
    }
    quoted.replace('%', "%%").replace('$', "$$")
}

/// One word of a crontab command (`/bin/sh`): single-quoted when needed, and `%` escaped, as
/// cron turns it into a newline before the shell sees the line.
fn shell_word(word: &str, file: &str) -> Result<String, ExportError> {
    if word.chars().any(char::is_control) {
        return Err(ExportError::ControlCharacter {
            file: file.to_string(),
            word: word.to_string(),
        });
    }
    let quoted = if plain(word) {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    };
    Ok(quoted.replace('%', r"\%"))
}

/// The calendar lines of a timer.
fn on_calendar(f: &Fields, zone: &str) -> Vec<String> {
    let time = format!("{}:{}:00 {zone}", f.hour.systemd(), f.minute.systemd());
    let month = f.month.systemd();
    let date = |dom: &str| format!("*-{month}-{dom} {time}");
    let weekdays = || format!("{} {}", f.dow.systemd(), date("*"));
    match (f.dom.star, f.dow.star) {
        (_, true) => vec![date(&f.dom.systemd())],
        (true, false) => vec![weekdays()],
        // Either day will do (croner's OR); a timer fires on the union of its lines.
        (false, false) => vec![weekdays(), date(&f.dom.systemd())],
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Minute,
    Hour,
    Dom,
    Month,
    Dow,
}

const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const DAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];
const DAY_NAMES: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];

impl Kind {
    fn bounds(self) -> (u32, u32) {
        match self {
            Kind::Minute => (0, 59),
            Kind::Hour => (0, 23),
            Kind::Dom => (1, 31),
            Kind::Month => (1, 12),
            // 0 and 7 are both Sunday.
            Kind::Dow => (0, 7),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Span {
    /// `*`, possibly stepped.
    Every,
    One(u32),
    Range(u32, u32),
}

#[derive(Debug)]
struct Item {
    span: Span,
    step: u32,
}

/// One cron field: `star` when it is exactly `*` (unrestricted, for the OR of days).
#[derive(Debug)]
struct Field {
    kind: Kind,
    star: bool,
    items: Vec<Item>,
}

struct Fields {
    minute: Field,
    hour: Field,
    dom: Field,
    month: Field,
    dow: Field,
}

/// The drill's five fields, or what in them other schedulers cannot say.
fn fields(d: &Drill<'_>) -> Result<Fields, ExportError> {
    let unsupported = |feature: String| ExportError::Unsupported {
        file: d.file.to_string(),
        runbook: d.name.to_string(),
        schedule: d.schedule.to_string(),
        feature,
    };
    let parse = |kind, text| Field::parse(kind, text).map_err(&unsupported);
    match *d.schedule.fields().as_slice() {
        [m, h, dom, mon, dow] => Ok(Fields {
            minute: parse(Kind::Minute, m)?,
            hour: parse(Kind::Hour, h)?,
            dom: parse(Kind::Dom, dom)?,
            month: parse(Kind::Month, mon)?,
            dow: parse(Kind::Dow, dow)?,
        }),
        _ => Err(unsupported("other than five fields".into())),
    }
}

impl Fields {
    /// Plain 5-field cron: numbers only, Sunday as 0, as cronie and Kubernetes both read it.
    fn cron(&self) -> String {
        [&self.minute, &self.hour, &self.dom, &self.month, &self.dow]
            .map(Field::cron)
            .join(" ")
    }
}

impl Field {
    fn parse(kind: Kind, text: &str) -> Result<Field, String> {
        // croner reads `?` as `*`.
        let text = text.to_ascii_uppercase().replace('?', "*");
        let items = text
            .split(',')
            .map(|part| Item::parse(kind, part))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Field {
            kind,
            star: text == "*",
            items,
        })
    }

    fn systemd(&self) -> String {
        if self.kind == Kind::Dow {
            return day_list(
                self.days(),
                [1, 2, 3, 4, 5, 6, 0],
                |d| DAY_NAMES[d].into(),
                "..",
            );
        }
        if self.star {
            return "*".into();
        }
        self.list(|i| match i.span {
            Span::Every if i.step == 1 => "*".into(),
            Span::Every => format!("{:02}", self.kind.bounds().0),
            Span::One(n) => format!("{n:02}"),
            Span::Range(a, b) => format!("{a:02}..{b:02}"),
        })
    }

    fn cron(&self) -> String {
        if self.star {
            return "*".into();
        }
        if self.kind == Kind::Dow {
            return day_list(self.days(), [0, 1, 2, 3, 4, 5, 6], |d| d.to_string(), "-");
        }
        self.list(|i| match i.span {
            Span::Every if self.kind == Kind::Dom => "1-31".into(),
            Span::Every => "*".into(),
            Span::One(n) => n.to_string(),
            Span::Range(a, b) => format!("{a}-{b}"),
        })
    }

    fn list(&self, span: impl Fn(&Item) -> String) -> String {
        let items: Vec<String> = self
            .items
            .iter()
            .map(|i| match i.step {
                1 => span(i),
                s => format!("{}/{s}", span(i)),
            })
            .collect();
        items.join(",")
    }

    /// The weekdays a day-of-week field holds, Sunday first.
    fn days(&self) -> [bool; 7] {
        let mut days = [false; 7];
        for i in &self.items {
            let (a, b) = match i.span {
                Span::Every => self.kind.bounds(),
                Span::One(n) => (n, n),
                Span::Range(a, b) => (a, b),
            };
            for d in (a..=b).step_by(i.step as usize) {
                days[(d % 7) as usize] = true;
            }
        }
        days
    }
}

impl Item {
    fn parse(kind: Kind, part: &str) -> Result<Item, String> {
        let (lo, hi) = kind.bounds();
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => (r, Some(number(s)?)),
            None => (part, None),
        };
        let span = match range.split_once('-') {
            _ if range == "*" => Span::Every,
            Some((a, b)) => Span::Range(value(kind, a, false)?, value(kind, b, true)?),
            // `N/S` is `N-max/S`, for croner as for Kubernetes.
            None if step.is_some() => Span::Range(value(kind, range, false)?, hi),
            None => Span::One(value(kind, range, false)?),
        };
        let fits = match span {
            Span::Every => true,
            Span::One(n) => (lo..=hi).contains(&n),
            Span::Range(a, b) => lo <= a && a <= b && b <= hi,
        };
        match step {
            Some(0) => Err(format!("`{part}` (a step of 0)")),
            _ if !fits => Err(format!("`{part}` (out of range)")),
            _ => Ok(Item {
                span,
                step: step.unwrap_or(1),
            }),
        }
    }
}

/// A number or, in months and weekdays, a name; SUN ending a range is 7, as croner reads it.
fn value(kind: Kind, text: &str, end: bool) -> Result<u32, String> {
    let (names, first): (&[&str], u32) = match kind {
        Kind::Month => (&MONTHS, 1),
        Kind::Dow => (&DAYS, 0),
        _ => (&[], 0),
    };
    match names.iter().position(|n| *n == text) {
        Some(0) if end && kind == Kind::Dow => Ok(7),
        Some(i) => Ok(first + i as u32),
        None => number(text),
    }
}

fn number(text: &str) -> Result<u32, String> {
    // Not `parse` alone: it takes a leading `+`, croner's AND marker.
    if text.bytes().all(|b| b.is_ascii_digit()) {
        text.parse().map_err(|_| feature(text))
    } else {
        Err(feature(text))
    }
}

/// What a token that is neither a number nor a name is, for the error.
fn feature(token: &str) -> String {
    let what = if token.contains('#') {
        "`#` (the nth weekday of the month)"
    } else if token.starts_with('+') {
        "`+` (day of month AND day of week)"
    } else if token.contains('L') {
        "`L` (the last day or weekday of the month)"
    } else if token.contains('W') {
        "`W` (the weekday nearest a day)"
    } else {
        return format!("`{token}`");
    };
    what.to_string()
}

/// Weekdays in `order`, three or more in a row as a range (`Mon..Fri`, `1-5`).
fn day_list(
    days: [bool; 7],
    order: [usize; 7],
    name: impl Fn(usize) -> String,
    to: &str,
) -> String {
    let mut parts = Vec::new();
    let mut i = 0;
    while i < order.len() {
        if !days[order[i]] {
            i += 1;
            continue;
        }
        let mut j = i;
        while j + 1 < order.len() && days[order[j + 1]] {
            j += 1;
        }
        match j - i {
            0 => parts.push(name(order[i])),
            1 => parts.extend([name(order[i]), name(order[j])]),
            _ => parts.push(format!("{}{to}{}", name(order[i]), name(order[j]))),
        }
        i = j + 1;
    }
    parts.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drill<T>(text: &str, f: impl FnOnce(&Drill<'_>) -> T) -> T {
        let schedule = Schedule::parse(text).expect("parses");
        f(&Drill {
            job: Job::Drill,
            name: "web",
            file: "/dr/web.runbook",
            text: "",
            schedule: &schedule,
        })
    }

    fn calendar(text: &str) -> Vec<String> {
        drill(text, |d| {
            on_calendar(&fields(d).expect("portable"), d.schedule.zone_name())
        })
    }

    #[test]
    fn cron_to_on_calendar() {
        let utc = |s: &str| format!("{s} UTC");
        for (cron, want) in [
            ("0 3 * * 0", vec![utc("Sun *-*-* 03:00:00")]),
            ("0 3 * * 7", vec![utc("Sun *-*-* 03:00:00")]),
            ("*/15 * * * *", vec![utc("*-*-* *:00/15:00")]),
            ("0 0 1 * *", vec![utc("*-*-01 00:00:00")]),
            ("0 */6 */2 * *", vec![utc("*-*-01/2 00/6:00:00")]),
            (
                "5-20/5 8-18 * jan,jul *",
                vec![utc("*-01,07-* 08..18:05..20/5:00")],
            ),
            ("15 2 * 3-11/2 *", vec![utc("*-03..11/2-* 02:15:00")]),
            ("10/20 * * * *", vec![utc("*-*-* *:10..59/20:00")]),
            ("0 3 * * sat,sun", vec![utc("Sat,Sun *-*-* 03:00:00")]),
            ("0 3 * * fri-sun", vec![utc("Fri..Sun *-*-* 03:00:00")]),
            ("0 3 * * */2", vec![utc("Tue,Thu,Sat,Sun *-*-* 03:00:00")]),
            ("0 3 ? * 1", vec![utc("Mon *-*-* 03:00:00")]),
            (
                "0 4 1,15 * 1",
                vec![utc("Mon *-*-* 04:00:00"), utc("*-*-01,15 04:00:00")],
            ),
            (
                "TZ=Europe/Berlin 30 9 * * 1-5",
                vec!["Mon..Fri *-*-* 09:30:00 Europe/Berlin".into()],
            ),
        ] {
            assert_eq!(calendar(cron), want, "{cron}");
        }
    }

    #[test]
    fn cron_fields_are_plain_numbers_with_days_kept_restricted() {
        for (cron, want) in [
            ("0 3 * * 7", "0 3 * * 0"),
            ("*/15 * */2 * mon-fri", "*/15 * 1-31/2 * 1-5"),
            ("0 3 * jan,jul fri-sun", "0 3 * 1,7 0,5,6"),
            ("0 3 * * tue-sun", "0 3 * * 0,2-6"),
            ("5/20 * * * *", "5-59/20 * * * *"),
            ("TZ=Asia/Tokyo 0 3 ? * 0-6", "0 3 * * 0-6"),
        ] {
            assert_eq!(
                drill(cron, |d| fields(d).map(|f| f.cron())),
                Ok(want.into()),
                "{cron}"
            );
        }
    }

    #[test]
    fn croner_extensions_are_refused_by_name() {
        for (cron, what) in [
            ("0 3 L * *", "`L`"),
            ("0 3 15W * *", "`W`"),
            ("0 3 * * 5#2", "`#`"),
            ("0 3 * * 5L", "`L`"),
            ("0 3 1 * +1", "`+`"),
        ] {
            let e = drill(cron, |d| fields(d).err()).expect("refused");
            assert!(e.to_string().contains(what), "{cron}: {e}");
            assert!(e.to_string().contains("runbook `web`"), "{e}");
        }
    }

    #[test]
    fn slugs_are_short_lowercase_and_stable() {
        assert_eq!(slug("web-tier"), "web-tier");
        assert_eq!(slug("Web Tier (EU)"), "web-tier-eu");
        assert_eq!(slug("  ünïcode--DB "), "n-code-db");
        assert_eq!(slug("日本"), "runbook");
        let long = format!("{} b", "a".repeat(37));
        assert_eq!(slug(&long), "a".repeat(37));
        assert!(format!("{PREFIX}{}", slug(&"x".repeat(99))).len() <= 52);
    }

    #[test]
    fn words_are_quoted_for_their_reader() {
        assert_eq!(systemd_word("/usr/bin/rebound"), "/usr/bin/rebound");
        assert_eq!(
            systemd_word("/dr/my $x/50%.runbook"),
            "\"/dr/my $$x/50%%.runbook\""
        );
        assert_eq!(
            shell_word("/dr/it's 50%", "f"),
            Ok(r"'/dr/it'\''s 50\%'".into())
        );
        assert!(shell_word("a\nb", "f").is_err());
    }

    #[test]
    fn two_runbooks_with_one_unit_name_are_refused() {
        let s = Schedule::parse("0 3 * * 0").expect("parses");
        let d = |name, file| Drill {
            job: Job::Drill,
            name,
            file,
            text: "",
            schedule: &s,
        };
        let opts = Options {
            rebound: "/usr/bin/rebound".into(),
            image: DEFAULT_IMAGE.into(),
            backend: "aws".into(),
            report_dir: None,
            extra: Vec::new(),
        };
        let e = crontab(&[d("Web Tier", "/a"), d("web-tier", "/b")], &opts).expect_err("refused");
        assert_eq!(
            e,
            vec![ExportError::SameName {
                first: "/a".into(),
                second: "/b".into(),
                unit: "rebound-drill-web-tier".into()
            }]
        );
    }
}
