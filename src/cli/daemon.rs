//! `rebound daemon DIR`: runs each runbook of DIR as a drill at the times its `schedule`
//! names, for teams that want drills without a cluster scheduler. Each drill is its own
//! `rebound run FILE --drill` process (a drill that crashes does not take the daemon with
//! it, and journals, teardown, reports and history work exactly as for a drill run by hand).
//! What is due is decided in `ops::daemon`; this module is the loop around it: it re-reads DIR
//! when a file changes (a broken runbook is reported and left out until fixed, the others go
//! on), starts and reaps drills, and on SIGTERM or Ctrl-C passes the signal to the drills in
//! flight, waits while they tear down, and exits 0.

use super::output;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, SystemTime};

use chrono::{DateTime, SecondsFormat, Utc};
use tokio::process::{Child, Command};

use rebound::error::Error;
use rebound::ops::daemon::{Decision, Memory, Missed, decide};
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
    schedule: Schedule,
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
                let Some(text) = &rb.schedule else {
                    continue;
                };
                // The checker accepted the schedule, so it parses.
                if let Ok(schedule) = Schedule::parse(text) {
                    book.insert(
                        file.display().to_string(),
                        Scheduled {
                            name: rb.name.clone(),
                            schedule,
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
    // Absolute, so the daemon's memory knows `runbooks` and `./runbooks/` as one place.
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
    let mut memory = Memory::read(&memory_path).map_err(|e| Error::Read {
        path: memory_path.display().to_string(),
        source: e,
    })?;
    let exe =
        std::env::current_exe().map_err(Error::system("cannot find rebound's own executable"))?;
    let clock = Clock {
        start: Utc::now(),
        speed: args.clock_speed,
    };
    let stamp = |t: DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Secs, true);
    let say = |line: String| output::line(format_args!("daemon {}: {line}", stamp(clock.now())));
    let tick = (Duration::from_secs(1) / args.clock_speed).max(Duration::from_millis(50));

    super::runtime()?.block_on(async {
        let mut stop = stop_signals()?;
        let mut seen: Option<Listing> = None;
        let mut book: BTreeMap<String, Scheduled> = BTreeMap::new();
        let mut running: HashMap<String, Child> = HashMap::new();
        say(format!(
            "watching {} (missed times: {:?})",
            dir.display(),
            args.missed
        ));
        // Nothing in the loop ends the daemon but a signal: drills in flight are never left
        // without it. What fails (a listing, a start, the memory) is said and tried again.
        loop {
            let mut changed = false;
            match listing(&dir) {
                Ok(now_listing) if seen.as_ref() != Some(&now_listing) => {
                    book = load(&now_listing, &say);
                    // A runbook gone (or broken) starts from now when it comes back.
                    memory.last.retain(|file, _| book.contains_key(file));
                    changed = true;
                    let names: Vec<&str> = book.values().map(|s| s.name.as_str()).collect();
                    say(format!("scheduled: {}", names.join(", ")));
                    seen = Some(now_listing);
                }
                Ok(_) => {}
                Err(e) => say(format!(
                    "cannot read {}: {}",
                    dir.display(),
                    e.render(Style::Plain).trim()
                )),
            }
            running.retain(|file, child| {
                let name = book.get(file).map_or(file.as_str(), |s| s.name.as_str());
                match child.try_wait() {
                    Ok(Some(status)) => {
                        say(format!("{name}: drill finished ({status})"));
                        false
                    }
                    Ok(None) => true,
                    Err(e) => {
                        say(format!("{name}: drill lost: {e}"));
                        false
                    }
                }
            });
            let now = clock.now();
            for (file, s) in &book {
                let cursor = memory.cursor(file, &s.schedule, now);
                let busy = running.contains_key(file);
                match decide(&s.schedule, cursor, now, busy, args.missed) {
                    Decision::Wait { .. } => continue,
                    Decision::Run { slot, missed } => {
                        let report_dir = args.report_dir.as_ref().map(|d| {
                            d.join(rebound::ops::export::slug(&s.name))
                                .join(slot.format("%Y%m%dT%H%M%SZ").to_string())
                        });
                        match spawn(&exe, file, &state_dir, report_dir, args) {
                            Ok(child) => {
                                let folded = if missed > 0 {
                                    format!(" ({missed} missed time(s) run once)")
                                } else {
                                    String::new()
                                };
                                say(format!(
                                    "{}: drill for {} started, pid {}{folded}",
                                    s.name,
                                    stamp(slot),
                                    child.id().unwrap_or(0)
                                ));
                                running.insert(file.clone(), child);
                            }
                            Err(e) => say(format!(
                                "{}: drill for {} not started: {}",
                                s.name,
                                stamp(slot),
                                e.render(Style::Plain).trim()
                            )),
                        }
                    }
                    Decision::Skip { slot, missed, busy } => {
                        let why = if busy {
                            "the previous drill is still running"
                        } else {
                            "missed while the daemon was down (--missed skip)"
                        };
                        say(format!(
                            "{}: skipped {missed} time(s) up to {}: {why}",
                            s.name,
                            stamp(slot)
                        ));
                    }
                }
                memory.acted(file, now);
                changed = true;
            }
            if changed {
                if let Err(e) = memory.write(&memory_path) {
                    say(format!("cannot write {}: {e}", memory_path.display()));
                }
            }
            tokio::select! {
                () = tokio::time::sleep(tick) => {}
                _ = stop.recv() => break,
            }
        }
        say(format!(
            "stopping: {} drill(s) in flight asked to stop and tear down",
            running.len()
        ));
        let mut pids: Vec<u32> = running.values().filter_map(Child::id).collect();
        pids.iter().copied().for_each(terminate);
        let mut forced = false;
        for (file, mut child) in running {
            let name = book.get(&file).map_or(file.as_str(), |s| s.name.as_str());
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
            match status {
                Ok(status) => say(format!("{name}: drill stopped ({status})")),
                Err(e) => say(format!("{name}: drill lost: {e}")),
            }
        }
        say("stopped".to_string());
        Ok(0)
    })
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
