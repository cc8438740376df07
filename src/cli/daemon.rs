//! `rebound daemon DIR`: runs each runbook of DIR as a drill at the times its `schedule`
//! names, and checks its readiness (`rebound preflight FILE --record`) at the times its
//! `readiness` names (hourly for a drilled runbook), for teams that want drills without a
//! cluster scheduler. Each drill is its own
//! `rebound run FILE --drill` process (a drill that crashes does not take the daemon with
//! it, and journals, teardown, reports and history work exactly as for a drill run by hand).
//! What is due is decided in `ops::daemon`; this module is the loop around it: it re-reads DIR
//! when a file changes (a broken runbook is reported and left out until fixed, the others go
//! on), starts and reaps drills, with `--metrics-file` rewrites the OpenMetrics textfile
//! (`evidence::metrics`) at start, when DIR changes and after every drill, and on SIGTERM or
//! Ctrl-C passes the signal to the drills in flight, waits while they tear down, and exits 0.

use super::output;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, SystemTime};

use chrono::{DateTime, SecondsFormat, Utc};
use tokio::process::{Child, Command};

use rebound::error::Error;
use rebound::evidence::metrics;
use rebound::ops::daemon::{Decision, Memory, Missed, decide};
use rebound::ops::export::Job;
use rebound::runbook;
use rebound::runbook::diagnostic::Style;
use rebound::runbook::schedule::Schedule;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Directory of `*.runbook` files; re-read whenever a file in it changes.
    #[arg(value_name = "DIR")]
    dir: PathBuf,
    /// Times missed while the daemon was down: run the drill once at start, or skip them.
    #[arg(long, value_enum, default_value = "once")]
    missed: Missed,
    /// Write each drill's reports to DIR/<runbook>/<time>/.
    #[arg(long, value_name = "DIR")]
    report_dir: Option<PathBuf>,
    #[command(flatten)]
    state: super::StateArgs,
    #[command(flatten)]
    history: super::HistoryArgs,
    /// Keep the drills' metrics (OpenMetrics, as `rebound report --format prometheus`, of the
    /// runbooks scheduled here) in this file, written whole at start, when DIR changes and
    /// after every drill: a `*.prom` file in node_exporter's textfile directory.
    #[arg(long, value_name = "FILE")]
    metrics_file: Option<PathBuf>,
    /// Where an S3 history is read from for --metrics-file (the drills take theirs after `--`).
    #[command(flatten)]
    aws: super::AwsArgs,
    /// Tests only: the daemon's clock runs this many times faster than the wall clock.
    #[arg(long, hide = true, default_value_t = 1, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=3600))]
    clock_speed: u32,
    /// Arguments for every `rebound run FILE --drill` the daemon starts, after `--`
    /// (e.g. `-- --backend aws --region eu-west-1`).
    #[arg(last = true, value_name = "RUN ARGS")]
    run_args: Vec<String>,
}

/// The daemon's clock: the wall clock (which, unlike a monotonic one, keeps up through a
/// machine's sleep and NTP steps, so times missed while asleep are seen), or for tests the
/// wall clock's progress since start, sped up.
struct Clock {
    start: DateTime<Utc>,
    speed: u32,
}

impl Clock {
    fn now(&self) -> DateTime<Utc> {
        let now = Utc::now();
        if self.speed == 1 {
            return now;
        }
        self.start + (now - self.start) * i32::try_from(self.speed).unwrap_or(1)
    }
}

/// A runbook the daemon schedules.
struct Scheduled {
    name: String,
    schedule: Option<Schedule>,
    readiness: Option<Schedule>,
}

/// The suffix of a readiness check's key in the daemon's memory and its table of processes
/// (a drill's key is its file).
const READINESS_KEY: &str = "#readiness";

/// The key of `job` of `file`.
fn key(job: Job, file: &str) -> String {
    match job {
        Job::Drill => file.to_string(),
        Job::Readiness => format!("{file}{READINESS_KEY}"),
    }
}

/// The job and the file of a key.
fn of(key: &str) -> (Job, &str) {
    match key.strip_suffix(READINESS_KEY) {
        Some(file) => (Job::Readiness, file),
        None => (Job::Drill, key),
    }
}

impl Scheduled {
    fn schedule(&self, job: Job) -> Option<&Schedule> {
        match job {
            Job::Drill => self.schedule.as_ref(),
            Job::Readiness => self.readiness.as_ref(),
        }
    }
}

/// The directory as last read: each runbook file with its modification time and size.
type Listing = Vec<(PathBuf, Option<SystemTime>, u64)>;

fn listing(dir: &Path) -> Result<Listing, Error> {
    let files = super::files::runbook_files(&[dir.to_path_buf()])?;
    Ok(files
        .into_iter()
        .map(|f| {
            let meta = std::fs::metadata(&f).ok();
            let modified = meta.as_ref().and_then(|m| m.modified().ok());
            let len = meta.map_or(0, |m| m.len());
            (f, modified, len)
        })
        .collect())
}

/// Reads every runbook of the listing; a broken one is reported and left out.
fn load(files: &Listing, say: &dyn Fn(String)) -> BTreeMap<String, Scheduled> {
    let mut book = BTreeMap::new();
    for (file, _, _) in files {
        match runbook::load(file, &[]) {
            Ok(rb) => {
                // The checker accepted both, so they parse.
                let parse =
                    |text: &Option<String>| text.as_deref().and_then(|t| Schedule::parse(t).ok());
                let (schedule, readiness) = (parse(&rb.schedule), parse(&rb.readiness));
                if schedule.is_some() || readiness.is_some() {
                    book.insert(
                        file.display().to_string(),
                        Scheduled {
                            name: rb.name.clone(),
                            schedule,
                            readiness,
                        },
                    );
                }
            }
            Err(e) => {
                output::error(&Error::from(e));
                say(format!(
                    "{}: broken, not scheduled until it is fixed",
                    file.display()
                ));
            }
        }
    }
    book
}

pub fn run(args: &Args) -> Result<u8, Error> {
    let mut daemon = Daemon::open(args)?;
    super::runtime()?.block_on(async {
        let mut stop = stop_signals()?;
        daemon.say(format!(
            "watching {} (missed times: {:?})",
            daemon.dir.display(),
            args.missed
        ));
        let tick = (Duration::from_secs(1) / args.clock_speed).max(Duration::from_millis(50));
        // Nothing in the loop ends the daemon but a signal: drills in flight are never left
        // without it. What fails (a listing, a start, the memory) is said and tried again.
        loop {
            let reloaded = daemon.reload();
            let drilled = daemon.reap();
            if reloaded || drilled {
                daemon.publish().await;
            }
            let acted = daemon.start_due();
            if reloaded || acted {
                daemon.remember();
            }
            tokio::select! {
                () = tokio::time::sleep(tick) => {}
                _ = stop.recv() => break,
            }
        }
        daemon.stop_all(&mut stop).await;
        Ok(0)
    })
}

/// The daemon's state: the runbooks it schedules, the drills in flight, what it remembers
/// across restarts (`ops::daemon::Memory`), and where things go.
struct Daemon<'a> {
    args: &'a Args,
    /// Absolute, so the daemon's memory knows `runbooks` and `./runbooks/` as one place.
    dir: PathBuf,
    state_dir: PathBuf,
    memory_path: PathBuf,
    memory: Memory,
    /// This executable: each drill is `rebound run FILE --drill` of the same build.
    exe: PathBuf,
    clock: Clock,
    seen: Option<Listing>,
    book: BTreeMap<String, Scheduled>,
    running: HashMap<String, Child>,
}

impl<'a> Daemon<'a> {
    fn open(args: &'a Args) -> Result<Daemon<'a>, Error> {
        let dir = args
            .dir
            .canonicalize()
            .ok()
            .filter(|d| d.is_dir())
            .ok_or_else(|| {
                Error::Usage(format!(
                    "{} is not a directory of runbooks",
                    args.dir.display()
                ))
            })?;
        let state_dir = args.state.dir()?;
        std::fs::create_dir_all(&state_dir).map_err(|e| Error::Write {
            path: state_dir.display().to_string(),
            source: e,
        })?;
        let memory_path = state_dir.join("daemon.json");
        let memory = Memory::read(&memory_path).map_err(|e| Error::Read {
            path: memory_path.display().to_string(),
            source: e,
        })?;
        let exe = std::env::current_exe()
            .map_err(Error::system("cannot find rebound's own executable"))?;
        Ok(Daemon {
            args,
            dir,
            state_dir,
            memory_path,
            memory,
            exe,
            clock: Clock {
                start: Utc::now(),
                speed: args.clock_speed,
            },
            seen: None,
            book: BTreeMap::new(),
            running: HashMap::new(),
        })
    }

    /// A line of the daemon's log, stamped with its clock.
    fn say(&self, line: String) {
        output::line(format_args!("daemon {}: {line}", stamp(self.clock.now())));
    }

    /// The name a runbook file (or a job's key) is known by in the log.
    fn name<'f>(&'f self, key: &'f str) -> &'f str {
        let (_, file) = of(key);
        self.book.get(file).map_or(file, |s| s.name.as_str())
    }

    /// Re-reads DIR when a file in it changed; `true` when the schedules were reloaded.
    fn reload(&mut self) -> bool {
        match listing(&self.dir) {
            Ok(now) if self.seen.as_ref() != Some(&now) => {
                self.book = load(&now, &|line| self.say(line));
                // A runbook gone (or broken) starts from now when it comes back.
                let book = &self.book;
                self.memory.last.retain(|key, _| {
                    let (job, file) = of(key);
                    book.get(file).is_some_and(|s| s.schedule(job).is_some())
                });
                let names: Vec<&str> = self.book.values().map(|s| s.name.as_str()).collect();
                self.say(format!("scheduled: {}", names.join(", ")));
                self.seen = Some(now);
                true
            }
            Ok(_) => false,
            Err(e) => {
                self.say(format!(
                    "cannot read {}: {}",
                    self.dir.display(),
                    e.render(Style::Plain).trim()
                ));
                false
            }
        }
    }

    /// Forgets the drills and checks that ended, saying how; `true` when a drill did.
    fn reap(&mut self) -> bool {
        let mut ended = Vec::new();
        self.running.retain(|key, child| {
            let what = of(key).0.noun();
            match child.try_wait() {
                Ok(Some(status)) => {
                    ended.push((key.clone(), format!("{what} finished ({status})")));
                    false
                }
                Ok(None) => true,
                Err(e) => {
                    ended.push((key.clone(), format!("{what} lost: {e}")));
                    false
                }
            }
        });
        let drilled = ended.iter().any(|(key, _)| of(key).0 == Job::Drill);
        for (file, how) in ended {
            self.say(format!("{}: {how}", self.name(&file)));
        }
        drilled
    }

    /// With `--metrics-file`: the metrics of the runbooks drilled here, from the history,
    /// written whole (node_exporter never reads half a file); a failure is said, and the file
    /// is written again after the next drill.
    async fn publish(&self) {
        let Some(path) = &self.args.metrics_file else {
            return;
        };
        let expected: Vec<String> = self
            .book
            .values()
            .filter(|s| s.schedule.is_some())
            .map(|s| s.name.clone())
            .collect();
        let written = match self.args.history.reports(&self.args.aws).await {
            Ok((_, reports)) => {
                let m = metrics::compute(&reports, &expected, None, None, Utc::now());
                rebound::atomic_file::write(path, m.openmetrics().as_bytes())
                    .map_err(|e| e.to_string())
            }
            Err(e) => Err(format!(
                "cannot read the history: {}",
                e.render(Style::Plain).trim()
            )),
        };
        if let Err(e) = written {
            self.say(format!("cannot write {}: {e}", path.display()));
        }
    }

    /// Starts, or skips, every drill and readiness check that is due; `true` when any was.
    fn start_due(&mut self) -> bool {
        let now = self.clock.now();
        let mut acted = false;
        let files: Vec<String> = self.book.keys().cloned().collect();
        for file in files {
            for job in [Job::Drill, Job::Readiness] {
                let Some(schedule) = self.book.get(&file).and_then(|s| s.schedule(job)).cloned()
                else {
                    continue;
                };
                let key = key(job, &file);
                let cursor = self.memory.cursor(&key, &schedule, now);
                // A readiness check waits for the runbook's drill too: it would see the drill's
                // own instances and addresses.
                let busy = self.running.contains_key(&key)
                    || (job == Job::Readiness && self.running.contains_key(&file));
                match decide(&schedule, cursor, now, busy, self.args.missed) {
                    Decision::Wait { .. } => continue,
                    Decision::Run { slot, missed } => self.start(job, &file, slot, missed),
                    Decision::Skip { slot, missed, busy } => {
                        let why = if busy {
                            format!("the previous {} is still running", job.noun())
                        } else {
                            "missed while the daemon was down (--missed skip)".to_string()
                        };
                        self.say(format!(
                            "{}: {} skipped {missed} time(s) up to {}: {why}",
                            self.name(&file),
                            job.noun(),
                            stamp(slot)
                        ));
                    }
                }
                self.memory.acted(&key, now);
                acted = true;
            }
        }
        acted
    }

    /// Starts the drill (or the readiness check) of `file` for the time `slot`.
    fn start(&mut self, job: Job, file: &str, slot: DateTime<Utc>, missed: usize) {
        let name = self.name(file).to_string();
        let report_dir = self.args.report_dir.as_ref().map(|d| {
            d.join(rebound::ops::export::slug(&name))
                .join(slot.format("%Y%m%dT%H%M%SZ").to_string())
        });
        let started = match job {
            Job::Drill => spawn(&self.exe, file, &self.state_dir, report_dir, self.args),
            Job::Readiness => spawn_readiness(&self.exe, file, self.args),
        };
        let what = job.noun();
        match started {
            Ok(child) => {
                let folded = if missed > 0 {
                    format!(" ({missed} missed time(s) run once)")
                } else {
                    String::new()
                };
                self.say(format!(
                    "{name}: {what} for {} started, pid {}{folded}",
                    stamp(slot),
                    child.id().unwrap_or(0)
                ));
                self.running.insert(key(job, file), child);
            }
            Err(e) => self.say(format!(
                "{name}: {what} for {} not started: {}",
                stamp(slot),
                e.render(Style::Plain).trim()
            )),
        }
    }

    /// Writes what the daemon remembers; a failure is said, and tried again next time.
    fn remember(&self) {
        if let Err(e) = self.memory.write(&self.memory_path) {
            self.say(format!("cannot write {}: {e}", self.memory_path.display()));
        }
    }

    /// Passes the stop on to every drill in flight and waits while they tear down; asked
    /// twice, every drill still running exits at once.
    async fn stop_all(mut self, stop: &mut tokio::sync::mpsc::UnboundedReceiver<()>) {
        let drills = self
            .running
            .keys()
            .filter(|k| of(k).0 == Job::Drill)
            .count();
        self.say(format!(
            "stopping: {drills} drill(s) in flight asked to stop and tear down"
        ));
        let mut pids: Vec<u32> = self.running.values().filter_map(Child::id).collect();
        pids.iter().copied().for_each(terminate);
        let mut forced = false;
        for (file, mut child) in std::mem::take(&mut self.running) {
            let pid = child.id();
            let status = loop {
                tokio::select! {
                    status = child.wait() => break status,
                    _ = stop.recv(), if !forced => {
                        // Asked twice: every drill still running exits at once (its journal
                        // stays consistent for `rebound teardown`), and so does the daemon.
                        forced = true;
                        pids.iter().copied().for_each(terminate);
                    }
                }
            };
            // Reaped: its pid may be reused, so it is signalled no more.
            pids.retain(|p| Some(*p) != pid);
            let (name, what) = (self.name(&file), of(&file).0.noun());
            match status {
                Ok(status) => self.say(format!("{name}: {what} stopped ({status})")),
                Err(e) => self.say(format!("{name}: {what} lost: {e}")),
            }
        }
        self.say("stopped".to_string());
    }
}

/// A time as the daemon's log writes it.
fn stamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Starts `rebound run FILE --drill` in its own process group, so a Ctrl-C at the daemon's
/// terminal reaches the drill once, through the daemon, not twice.
fn spawn(
    exe: &Path,
    file: &str,
    state_dir: &Path,
    report_dir: Option<PathBuf>,
    args: &Args,
) -> Result<Child, Error> {
    let mut cmd = Command::new(exe);
    cmd.arg("run")
        .arg(file)
        .arg("--drill")
        .arg("--state-dir")
        .arg(state_dir);
    if let Some(h) = &args.history.path {
        cmd.arg("--history").arg(h);
    }
    if let Some(d) = report_dir {
        cmd.arg("--report-dir").arg(d);
    }
    cmd.args(&args.run_args)
        .stdin(Stdio::null())
        .kill_on_drop(false);
    #[cfg(unix)]
    cmd.process_group(0);
    cmd.spawn()
        .map_err(Error::system(format!("cannot start {}", exe.display())))
}

/// Starts `rebound preflight FILE --record`, asking where the drills act: of the run
/// arguments, those preflight takes (`ops::export::readiness_args`). Its findings go to the history; its output is not the daemon's log.
fn spawn_readiness(exe: &Path, file: &str, args: &Args) -> Result<Child, Error> {
    let mut cmd = Command::new(exe);
    cmd.arg("preflight").arg(file).arg("--record");
    if let Some(h) = &args.history.path {
        cmd.arg("--history").arg(h);
    }
    cmd.args(rebound::ops::export::readiness_args(&args.run_args));
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .kill_on_drop(false);
    #[cfg(unix)]
    cmd.process_group(0);
    cmd.spawn()
        .map_err(Error::system(format!("cannot start {}", exe.display())))
}

fn terminate(pid: u32) {
    #[cfg(unix)]
    if let Ok(pid) = i32::try_from(pid) {
        // SAFETY: kill(2) with a pid of our own child and a standard signal touches no memory.
        unsafe {
            libc::kill(pid, libc::SIGTERM);
        }
    }
}

/// SIGTERM or Ctrl-C, each time one comes.
fn stop_signals() -> Result<tokio::sync::mpsc::UnboundedReceiver<()>, Error> {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term =
            signal(SignalKind::terminate()).map_err(Error::system("cannot watch SIGTERM"))?;
        let mut int =
            signal(SignalKind::interrupt()).map_err(Error::system("cannot watch SIGINT"))?;
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
                if tx.send(()).is_err() {
                    return;
                }
            }
        });
    }
    #[cfg(not(unix))]
    tokio::spawn(async move {
        while tokio::signal::ctrl_c().await.is_ok() {
            if tx.send(()).is_err() {
                return;
            }
        }
    });
    Ok(rx)
}
