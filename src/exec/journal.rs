//! The run's journal: what a crashed or interrupted run needs to be resumed or torn down by
//! another process, and nothing it could get wrong by guessing. One JSON record per line,
//! appended and fsync'ed one at a time: the run's header (the runbook's text, the `--set`
//! values, the backend's settings; never credentials), then as the run goes an *intent*
//! before every mutating call (with its idempotency token), the call's *answer* after it,
//! every resource the moment it exists, each step's final record, teardown outcomes, and the
//! run's end.
//!
//! A power cut can tear the last line; reading tolerates that and says so. Any other bad line
//! is an error naming it: a journal is evidence, not a best effort.
//!
//! The in-memory side, `Journal::call`, answers "was this call made already?" for the
//! actions: a call with an answer is not made again; a call with an intent but no answer is
//! reconciled (looked up by tag) before it is re-issued with the same token.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::api::Calls;
use super::event::At;
use super::model::{Attachment, Created, Fate, TornDown};
use super::record::StepRecord;
use crate::cloud::{Backend, Op, ResourceKind};

/// Set to N, the process kills itself with SIGKILL just before it appends its Nth record:
/// the crash-safety tests cut a run at every record in turn with it.
pub const CRASH_ENV: &str = "REBOUND_CRASH_BEFORE_RECORD";

/// Set to N, the process sends itself SIGTERM just after it wrote its Nth record: with 1, the
/// signal-at-start test lands a SIGTERM the moment the journal exists.
pub const TERM_ENV: &str = "REBOUND_TERM_AFTER_RECORD";

/// The test hooks of [`CRASH_ENV`] and [`TERM_ENV`], read once per journal.
#[derive(Debug, Clone, Copy, Default)]
struct Hooks {
    kill_before: Option<u64>,
    term_after: Option<u64>,
}

impl Hooks {
    fn from_env() -> Hooks {
        let n = |name| std::env::var(name).ok().and_then(|v| v.parse().ok());
        Hooks {
            kill_before: n(CRASH_ENV),
            term_after: n(TERM_ENV),
        }
    }
}

/// What a run was started with: enough to resume or tear it down with nothing else.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Header {
    pub run_id: String,
    pub rebound_version: String,
    /// The runbook's file name, as given.
    pub runbook_file: String,
    /// The runbook's name (`runbook "NAME"`).
    pub runbook: String,
    /// The runbook's full text at the time of the run.
    pub runbook_text: String,
    pub sets: Vec<(String, String)>,
    /// `sim` or `aws`.
    pub backend: Backend,
    pub drill: bool,
    pub approve: bool,
    /// `user@host` of the process that started the run: an approval `--approve` gave in
    /// advance is theirs, also in a resume that inherits it.
    #[serde(default)]
    pub started_by: Option<String>,
    pub started_at: DateTime<Utc>,
    pub declared_at: Option<DateTime<Utc>>,
    pub parallelism: usize,
    /// Simulator: seed, and the world and profile given (JSON), if any.
    pub seed: Option<u64>,
    pub sim_world: Option<Value>,
    pub sim_profile: Option<Value>,
    /// `--latency`: what the pollers expect (and the simulator's latencies), if given.
    #[serde(default)]
    pub latency: Option<Value>,
    /// AWS: where the run called (never credentials).
    pub aws_profile: Option<String>,
    pub aws_region: Option<String>,
    pub aws_endpoint_url: Option<String>,
    /// An isolated drill (`exec::sandbox`): its instances in groups of their own.
    #[serde(default)]
    pub isolated: bool,
}

/// A run's state as `rebound runs` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunState {
    /// Started and not ended: running now, or crashed.
    Running,
    Succeeded,
    Failed,
    Interrupted,
    /// A drill whose teardown verified everything gone.
    TornDown,
    /// Teardown left something behind.
    TeardownIncomplete,
}

impl RunState {
    pub fn name(self) -> &'static str {
        match self {
            RunState::Running => "running",
            RunState::Succeeded => "succeeded",
            RunState::Failed => "failed",
            RunState::Interrupted => "interrupted",
            RunState::TornDown => "torn_down",
            RunState::TeardownIncomplete => "teardown_incomplete",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Entry {
    Run(Box<Header>),
    /// Another process took the run over (`rebound resume`, `rebound teardown`).
    Resumed {
        at: At,
        command: String,
    },
    Started {
        step: String,
        attempt: u32,
        at: At,
    },
    /// About to make a mutating call.
    Intent {
        step: String,
        op: Op,
        token: String,
        at: At,
    },
    /// The call's answer (`answer`), or its error (`error`, and then it may be made again).
    Answer {
        step: String,
        op: Op,
        token: String,
        #[serde(default)]
        answer: Value,
        #[serde(default)]
        error: Option<String>,
        /// The resources in the answer.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        created: Vec<Created>,
        at: At,
    },
    /// A resource exists (one not in an answer: a restore job's instance).
    Created {
        step: String,
        resource: Created,
        at: At,
    },
    /// A step ended, with everything the report needs of it.
    Step {
        step: String,
        record: Box<StepRecord>,
        /// The run's API calls so far, every process's (the report's total on resume).
        #[serde(default)]
        run_calls: Calls,
    },
    /// Teardown is about to delete a resource: if the process dies before its outcome is
    /// written, the next teardown knows that a resource no Describe shows was deleted, and
    /// does not wait for it as for one not yet propagated.
    Deleting {
        kind: ResourceKind,
        id: String,
        at: At,
    },
    Teardown(TornDown),
    End {
        state: RunState,
        at: At,
    },
}

/// What the journal knows of a call with a token.
#[derive(Debug, Clone, PartialEq)]
pub enum Call {
    /// An intent without an answer: the call may or may not have happened.
    Pending,
    Answered(Value),
}

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}:{line}: not a journal record: {message}")]
    Corrupt {
        path: String,
        line: usize,
        message: String,
    },
    #[error("{path}: empty journal (no run header)")]
    Empty { path: String },
    /// The header names a run id that is not one, or another file's: a copied or forged
    /// journal. Teardown filters the account by this id, so it is never trusted.
    #[error(
        "{path}: its header names run {run_id:?}, which is not this journal's run \
         (a run id is YYYYMMDDTHHMMSSZ-xxxx and names its file); refusing to act on it"
    )]
    NotThisRun { path: String, run_id: String },
    /// Another process holds the run: it is live. Two processes on one run would each make
    /// what the other already made.
    #[error("run {run_id} is live: {holder}; wait for it to end, or stop that process first")]
    Live { run_id: String, holder: String },
}

/// Who holds a run's lock, as the holder writes it beside the journal (`RUN.holder`), so that
/// a process refused the lock can say whom to ask. The lock itself is the journal file's own
/// (`File::try_lock`): the kernel releases it when the holder dies, however it dies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Holder {
    pub pid: u32,
    pub host: String,
    /// `run`, `resume` or `teardown`.
    pub command: String,
    pub since: DateTime<Utc>,
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "`rebound {}` holds it, pid {} on {}, since {}",
            self.command,
            self.pid,
            self.host,
            self.since
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        )
    }
}

/// The holder's note beside a journal.
fn holder_path(journal: &Path) -> PathBuf {
    journal.with_extension("holder")
}

/// Takes the run's lock on `file` (the journal at `path`) for `command`. A live run is refused
/// at once, naming its holder; a teardown waits for a teardown that holds the lock (two
/// teardowns queue: the second finds what the first left).
fn lock(
    file: &std::fs::File,
    path: &Path,
    run_id: &str,
    command: &str,
) -> Result<(), JournalError> {
    let io = |source| JournalError::Io {
        path: path.display().to_string(),
        source,
    };
    // A `rebound runs` looking at the lock this very moment holds it for an instant: asked a
    // few times before a run counts as held.
    let mut tried = file.try_lock();
    for _ in 0..5 {
        if !matches!(tried, Err(std::fs::TryLockError::WouldBlock)) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
        tried = file.try_lock();
    }
    match tried {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let holder = std::fs::read_to_string(holder_path(path))
                .ok()
                .and_then(|t| serde_json::from_str::<Holder>(&t).ok());
            let both_teardowns =
                command == "teardown" && holder.as_ref().is_some_and(|h| h.command == "teardown");
            if !both_teardowns {
                return Err(JournalError::Live {
                    run_id: run_id.to_string(),
                    holder: holder
                        .map_or_else(|| "another process holds it".to_string(), |h| h.to_string()),
                });
            }
            // Said at warn, which is shown by default: a responder must see why nothing happens.
            let by = holder.map(|h| h.to_string()).unwrap_or_default();
            tracing::warn!(
                run = run_id,
                "waiting for the teardown in progress to end ({by})"
            );
            file.lock().map_err(io)?;
        }
        Err(std::fs::TryLockError::Error(e)) => return Err(io(e)),
    }
    let me = Holder {
        pid: std::process::id(),
        host: crate::identity::host(),
        command: command.to_string(),
        since: Utc::now(),
    };
    let text = serde_json::to_string(&me).unwrap_or_default();
    crate::atomic_file::write(&holder_path(path), text.as_bytes()).map_err(io)
}

/// Whether a process holds the run of the journal at `path` now (`rebound runs`: `live`, not
/// `interrupted`).
pub fn is_live(path: &Path) -> bool {
    // A shared lock: two `runs` do not get in each other's way, and a holder's exclusive lock
    // refuses it.
    std::fs::File::open(path)
        .is_ok_and(|f| matches!(f.try_lock_shared(), Err(std::fs::TryLockError::WouldBlock)))
}

/// A run's journal, opened for appending and locked for one process (`Journal::reopen`).
/// Dropped without being reopened (a command that stopped early), it takes its holder's note
/// with it.
pub struct Locked {
    file: Option<std::fs::File>,
    path: PathBuf,
}

impl Drop for Locked {
    fn drop(&mut self) {
        if self.file.is_some() {
            let _ = std::fs::remove_file(holder_path(&self.path));
        }
    }
}

impl Locked {
    /// Opens the journal at `path` of run `run_id` for `command` and takes the run's lock.
    /// Taken before the journal is read, so that what is read is what no one else changes.
    pub fn take(path: &Path, run_id: &str, command: &str) -> Result<Locked, JournalError> {
        let file = std::fs::OpenOptions::new()
            .append(true)
            .open(path)
            .map_err(|source| JournalError::Io {
                path: path.display().to_string(),
                source,
            })?;
        lock(&file, path, run_id, command)?;
        Ok(Locked {
            file: Some(file),
            path: path.to_path_buf(),
        })
    }
}

/// The journal being written.
pub struct Journal {
    file: Option<RefCell<std::fs::File>>,
    path: Option<PathBuf>,
    /// Each record fsync'ed (AWS). On the simulator records are written but not synced: a
    /// killed process loses nothing (the kernel has the write), only a power cut could, and a
    /// simulated run has nothing real to lose; 6,000 steps then run in a second, not in five.
    durable: bool,
    written: Cell<u64>,
    hooks: Hooks,
    calls: RefCell<HashMap<String, Call>>,
    /// Ids of the resources journaled so far.
    resources: RefCell<std::collections::HashSet<String>>,
    /// Ids a teardown of this run set out to delete (`Entry::Deleting`), this process's and
    /// earlier ones'.
    deleting: RefCell<std::collections::HashSet<String>>,
    /// The first write that failed: the run goes on, and says so at the end.
    failed: RefCell<Option<String>>,
}

impl Journal {
    /// A journal that keeps nothing on disk (library callers, tests of the executor).
    pub fn memory() -> Journal {
        Journal {
            file: None,
            path: None,
            durable: false,
            written: Cell::new(0),
            hooks: Hooks::default(),
            calls: RefCell::new(HashMap::new()),
            resources: RefCell::default(),
            deleting: RefCell::default(),
            failed: RefCell::new(None),
        }
    }

    /// Starts the journal of a new run at `path`, with its header.
    pub fn create(path: &Path, header: &Header) -> Result<Journal, JournalError> {
        let io = |source| JournalError::Io {
            path: path.display().to_string(),
            source,
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        if path.exists() {
            return Err(io(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                "a journal of this run id exists already",
            )));
        }
        // Written aside and renamed into place: a journal either has its header or does not
        // exist.
        let fresh = path.with_extension("journal-new");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .open(&fresh)
            .map_err(io)?;
        // The run's lock, held until this process ends: the kernel releases it on any death.
        lock(&file, path, &header.run_id, "run")?;
        let journal = Journal::on(file, path, HashMap::new(), header.backend != Backend::Sim);
        journal
            .append(&Entry::Run(Box::new(header.clone())))
            .map_err(io)?;
        // A link, not a rename: it fails, rather than replaces, when a journal of this id
        // appeared in the meantime.
        std::fs::hard_link(&fresh, path).map_err(io)?;
        std::fs::remove_file(&fresh).map_err(io)?;
        if let Some(dir) = path.parent().and_then(|d| std::fs::File::open(d).ok()) {
            // The rename itself reaches the disk.
            let _ = dir.sync_all();
        }
        Ok(journal)
    }

    /// Continues the journal of `replay` in this process, which holds the run's lock (`locked`,
    /// taken before the journal was read).
    pub fn reopen(
        mut locked: Locked,
        replay: &Replay,
        command: &str,
    ) -> Result<Journal, JournalError> {
        let path = locked.path.clone();
        let path = path.as_path();
        let Some(mut file) = locked.file.take() else {
            return Err(JournalError::Io {
                path: path.display().to_string(),
                source: std::io::Error::other("the journal's lock was already handed on"),
            });
        };
        let io = |source| JournalError::Io {
            path: path.display().to_string(),
            source,
        };
        if replay.torn.is_some() {
            // The torn line stays; a newline ends it so the next record starts clean. Reading
            // tolerates one bad line before a newline only where it is a torn tail, so mark it.
            file.write_all(b"\n").map_err(io)?;
        }
        let durable = replay.header.backend != Backend::Sim;
        let journal = Journal::on(file, path, replay.tokens.clone(), durable);
        journal
            .deleting
            .borrow_mut()
            .extend(replay.deleting.iter().cloned());
        journal
            .append(&Entry::Resumed {
                at: replay.last_at,
                command: command.to_string(),
            })
            .map_err(io)?;
        Ok(journal)
    }

    fn on(
        file: std::fs::File,
        path: &Path,
        calls: HashMap<String, Call>,
        durable: bool,
    ) -> Journal {
        Journal {
            file: Some(RefCell::new(file)),
            path: Some(path.to_path_buf()),
            durable,
            written: Cell::new(0),
            hooks: Hooks::from_env(),
            calls: RefCell::new(calls),
            resources: RefCell::default(),
            deleting: RefCell::default(),
            failed: RefCell::new(None),
        }
    }

    /// Appends one record and waits for it to reach the disk.
    pub fn append(&self, entry: &Entry) -> std::io::Result<()> {
        match entry {
            Entry::Intent { token, .. } => {
                self.calls.borrow_mut().insert(token.clone(), Call::Pending);
            }
            Entry::Answer {
                token,
                answer,
                error,
                created,
                ..
            } => {
                self.resources
                    .borrow_mut()
                    .extend(created.iter().map(|c| c.id.clone()));
                let mut calls = self.calls.borrow_mut();
                match error {
                    Some(_) => calls.remove(token),
                    None => calls.insert(token.clone(), Call::Answered(answer.clone())),
                };
            }
            Entry::Deleting { id, .. } => {
                self.deleting.borrow_mut().insert(id.clone());
            }
            _ => {}
        }
        let Some(file) = &self.file else {
            return Ok(());
        };
        let n = self.written.get() + 1;
        self.written.set(n);
        if self.hooks.kill_before == Some(n) {
            signal_self(libc::SIGKILL);
        }
        let mut line = serde_json::to_vec(entry).map_err(std::io::Error::other)?;
        line.push(b'\n');
        let mut file = file.borrow_mut();
        // One write per record: a crash leaves at most the last line torn.
        let result = file.write_all(&line).and_then(|()| {
            if self.durable {
                file.sync_data()
            } else {
                Ok(())
            }
        });
        if let Err(e) = &result {
            self.failed
                .borrow_mut()
                .get_or_insert_with(|| e.to_string());
        }
        if self.hooks.term_after == Some(n) {
            signal_self(libc::SIGTERM);
        }
        result
    }

    /// Appends, keeping a failure for `failed` instead of returning it: for records whose loss
    /// costs evidence but not safety.
    pub fn note(&self, entry: &Entry) {
        if let Err(e) = self.append(entry) {
            tracing::warn!(error = %e, "journal write failed");
        }
    }

    /// The first write that failed, if any.
    pub fn failed(&self) -> Option<String> {
        self.failed.borrow().clone()
    }

    /// Whether a teardown of this run set out to delete `id` (this process, or an earlier one).
    pub fn deleting(&self, id: &str) -> bool {
        self.deleting.borrow().contains(id)
    }

    /// Whether a resource is in the journal already (in an answer).
    pub fn has(&self, id: &str) -> bool {
        self.resources.borrow().contains(id)
    }

    pub fn call(&self, token: &str) -> Option<Call> {
        self.calls.borrow().get(token).cloned()
    }
}

/// The test hooks: a signal to this process, as `kill` from outside would send it.
fn signal_self(signal: libc::c_int) {
    // SAFETY: kill(2) on our own pid, with a valid signal number; no memory is involved.
    unsafe {
        libc::kill(libc::getpid(), signal);
    }
    if signal == libc::SIGKILL {
        // Not reached: SIGKILL cannot be caught.
        std::process::abort()
    }
}

impl Drop for Journal {
    /// The holder's note goes with the holder (the lock goes with the process).
    fn drop(&mut self) {
        if let Some(path) = &self.path {
            let _ = std::fs::remove_file(holder_path(path));
        }
    }
}

/// A journal read back.
#[derive(Debug, Clone)]
pub struct Replay {
    pub header: Header,
    pub entries: Vec<Entry>,
    /// What the journal says of each idempotency token.
    pub tokens: HashMap<String, Call>,
    /// The last step record of each step, by name.
    pub steps: HashMap<String, StepRecord>,
    /// Every resource created, with its step, in order.
    pub created: Vec<(String, Created, At)>,
    /// Teardown outcomes, the last per resource id.
    pub teardown: Vec<TornDown>,
    /// The resources a teardown set out to delete.
    pub deleting: std::collections::HashSet<String>,
    pub state: RunState,
    /// The latest run time in any record.
    pub last_at: At,
    /// The run's API calls up to its last step record.
    pub calls: Calls,
    /// A torn last line (a power cut mid-write): its line number and length.
    pub torn: Option<(usize, usize)>,
}

impl Replay {
    /// The attempt a `resume` of this journal is: the run was 1, each earlier resume one more.
    pub fn next_attempt(&self) -> u32 {
        let resumes = self
            .entries
            .iter()
            .filter(|e| matches!(e, Entry::Resumed { command, .. } if command == "resume"))
            .count();
        u32::try_from(resumes).unwrap_or(u32::MAX).saturating_add(2)
    }

    /// Reads the journal at `path`: its header's run id must be a run id and the file's name.
    pub fn read(path: &Path) -> Result<Replay, JournalError> {
        let display = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|source| JournalError::Io {
            path: display.clone(),
            source,
        })?;
        let replay = Replay::parse(&bytes, &display)?;
        let run_id = &replay.header.run_id;
        let stem = path.file_stem().and_then(|s| s.to_str());
        if !is_run_id(run_id) || stem != Some(run_id.as_str()) {
            return Err(JournalError::NotThisRun {
                path: display,
                run_id: run_id.clone(),
            });
        }
        Ok(replay)
    }

    /// Reads a journal's bytes; `path` names it in errors.
    pub fn parse(bytes: &[u8], path: &str) -> Result<Replay, JournalError> {
        let mut lines: Vec<&[u8]> = bytes.split(|&b| b == b'\n').collect();
        // The text after the last newline: empty when the journal ends cleanly.
        let tail = lines.pop().unwrap_or_default();
        let mut torn = (!tail.is_empty()).then(|| (lines.len() + 1, tail.len()));
        let mut entries = Vec::new();
        let count = lines.len();
        for (i, line) in lines.into_iter().enumerate() {
            if line.is_empty() {
                continue;
            }
            match serde_json::from_slice::<Entry>(line) {
                Ok(e) => entries.push(e),
                // A torn tail that a resume closed with a newline: tolerated where it is
                // followed by a `resumed` record, as `reopen` writes.
                Err(_) if torn.is_none() && followed_by_resume(bytes, i, count) => {
                    torn = Some((i + 1, line.len()));
                }
                Err(e) => {
                    return Err(JournalError::Corrupt {
                        path: path.to_string(),
                        line: i + 1,
                        message: e.to_string(),
                    });
                }
            }
        }
        let Some(Entry::Run(header)) = entries.first() else {
            return Err(JournalError::Empty {
                path: path.to_string(),
            });
        };
        let header = (**header).clone();
        let mut replay = Replay {
            header,
            entries: Vec::new(),
            tokens: HashMap::new(),
            steps: HashMap::new(),
            created: Vec::new(),
            teardown: Vec::new(),
            deleting: std::collections::HashSet::new(),
            state: RunState::Running,
            last_at: 0.0,
            calls: Calls::new(),
            torn,
        };
        for e in &entries {
            replay.apply(e);
        }
        replay.entries = entries;
        Ok(replay)
    }

    fn apply(&mut self, e: &Entry) {
        let mut at = |a: At| self.last_at = self.last_at.max(a);
        match e {
            Entry::Run(_) => {}
            Entry::Resumed { at: a, .. } => {
                at(*a);
                if self.state != RunState::TornDown {
                    self.state = RunState::Running;
                }
            }
            Entry::Started { at: a, .. } => at(*a),
            Entry::Intent { token, at: a, .. } => {
                at(*a);
                self.tokens.insert(token.clone(), Call::Pending);
            }
            Entry::Answer {
                token,
                answer,
                error,
                created,
                at: a,
                step,
                ..
            } => {
                at(*a);
                for c in created {
                    if !self.created.iter().any(|(_, have, _)| have.id == c.id) {
                        self.created.push((step.clone(), c.clone(), *a));
                    }
                }
                match error {
                    Some(_) => self.tokens.remove(token),
                    None => self
                        .tokens
                        .insert(token.clone(), Call::Answered(answer.clone())),
                };
            }
            Entry::Created {
                step,
                resource,
                at: a,
            } => {
                at(*a);
                if !self.created.iter().any(|(_, c, _)| c.id == resource.id) {
                    self.created.push((step.clone(), resource.clone(), *a));
                }
            }
            Entry::Step {
                step,
                record,
                run_calls,
            } => {
                if let Some(f) = record.finished_at {
                    at(f);
                }
                self.calls = run_calls.clone();
                self.steps.insert(step.clone(), (**record).clone());
            }
            Entry::Teardown(t) => {
                self.teardown.retain(|x| x.id != t.id);
                self.teardown.push(t.clone());
            }
            Entry::Deleting { id, at: a, .. } => {
                at(*a);
                self.deleting.insert(id.clone());
            }
            Entry::End { state, at: a } => {
                at(*a);
                self.state = *state;
            }
        }
    }

    /// The attachments the run made (the simulator puts them back).
    pub fn attachments(&self) -> Vec<Attachment> {
        self.entries
            .iter()
            .filter_map(|e| match e {
                Entry::Answer {
                    op: Op::AttachVolume,
                    answer,
                    error: None,
                    ..
                } => serde_json::from_value(answer.clone()).ok(),
                _ => None,
            })
            .collect()
    }

    /// The resources the journal says the run created and teardown has not verified gone.
    pub fn outstanding(&self) -> Vec<(String, Created)> {
        self.created
            .iter()
            .filter(|(_, c, _)| {
                !self
                    .teardown
                    .iter()
                    .any(|t| t.id == c.id && t.outcome == Fate::Verified)
            })
            .map(|(s, c, _)| (s.clone(), c.clone()))
            .collect()
    }
}

/// Whether line `i` (0-based) is followed, after blank lines, by a `resumed` record.
fn followed_by_resume(bytes: &[u8], i: usize, count: usize) -> bool {
    bytes
        .split(|&b| b == b'\n')
        .take(count)
        .skip(i + 1)
        .find(|l| !l.is_empty())
        .and_then(|l| serde_json::from_slice::<Entry>(l).ok())
        .is_some_and(|e| matches!(e, Entry::Resumed { .. }))
}

/// The default directory of journals: `$XDG_STATE_HOME/rebound` (`~/.local/state/rebound`) on
/// Linux, the local data directory elsewhere.
pub fn default_dir() -> Option<PathBuf> {
    let dirs = directories::ProjectDirs::from("", "", "rebound")?;
    Some(
        dirs.state_dir()
            .unwrap_or_else(|| dirs.data_local_dir())
            .to_path_buf(),
    )
}

/// The journal of run `run_id` in `dir`.
/// Whether `s` is a run id as `rebound run` makes them: `20261122T050000Z-1a2b`, the start
/// time in UTC and four hex digits. Nothing else is: no wildcard, no path.
pub fn is_run_id(s: &str) -> bool {
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    b.len() == 21
        && digits(0..8)
        && b[8] == b'T'
        && digits(9..15)
        && b[15] == b'Z'
        && b[16] == b'-'
        && b[17..]
            .iter()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c))
}

pub fn path_of(dir: &Path, run_id: &str) -> PathBuf {
    dir.join(format!("{run_id}.journal"))
}

/// Every run journaled in `dir`, newest first; journals that cannot be read are returned as
/// errors alongside, so one bad file does not hide the others.
pub fn list(dir: &Path) -> (Vec<Replay>, Vec<JournalError>) {
    let mut runs = Vec::new();
    let mut errors = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return (runs, errors);
    };
    for e in entries.flatten() {
        let path = e.path();
        if path.extension().is_some_and(|x| x == "journal") {
            match Replay::read(&path) {
                Ok(r) => runs.push(r),
                Err(err) => errors.push(err),
            }
        }
    }
    runs.sort_by(|a, b| {
        b.header
            .started_at
            .cmp(&a.header.started_at)
            .then(b.header.run_id.cmp(&a.header.run_id))
    });
    (runs, errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_ids_are_times_and_four_hex_digits_and_nothing_else() {
        assert!(is_run_id("20261122T050000Z-1a2b"));
        for bad in [
            "*",
            "2026112?T050000Z-1a2b",
            "20261122T050000Z-1a2B",
            "20261122T050000Z-1a2b3",
            "../20261122T050000Z",
            "20261122T050000Z-*",
            "",
        ] {
            assert!(!is_run_id(bad), "{bad:?}");
        }
    }

    fn header() -> Header {
        Header {
            run_id: "r1".into(),
            rebound_version: "0".into(),
            runbook_file: "x.runbook".into(),
            runbook: "x".into(),
            runbook_text: "runbook \"x\" {}".into(),
            sets: vec![],
            backend: Backend::Sim,
            drill: true,
            approve: false,
            started_by: None,
            started_at: DateTime::from_timestamp(0, 0).unwrap_or_default(),
            declared_at: None,
            parallelism: 1,
            seed: Some(1),
            sim_world: None,
            sim_profile: None,
            latency: None,
            aws_profile: None,
            aws_region: None,
            aws_endpoint_url: None,
            isolated: false,
        }
    }

    fn line(e: &Entry) -> String {
        let mut s = serde_json::to_string(e).unwrap_or_default();
        s.push('\n');
        s
    }

    /// The intent to launch with token `t1`.
    fn intent_t1() -> String {
        line(&Entry::Intent {
            step: "web".into(),
            op: Op::RunInstances,
            token: "t1".into(),
            at: 1.0,
        })
    }

    #[test]
    fn a_torn_last_line_is_tolerated_and_reported() {
        let mut text = line(&Entry::Run(Box::new(header())));
        text += &intent_t1();
        text += "{\"type\":\"answer\",\"step\":\"web\",\"op\":\"RunIns";
        let r = Replay::parse(text.as_bytes(), "j").expect("tolerated");
        assert_eq!(r.torn, Some((3, 42)));
        assert_eq!(r.tokens.get("t1"), Some(&Call::Pending));
        assert_eq!(r.state, RunState::Running);
    }

    #[test]
    fn a_bad_line_in_the_middle_is_an_error_naming_it() {
        let mut text = line(&Entry::Run(Box::new(header())));
        text += "garbage\n";
        text += &line(&Entry::End {
            state: RunState::Succeeded,
            at: 2.0,
        });
        let err = Replay::parse(text.as_bytes(), "j").expect_err("corrupt");
        assert!(
            err.to_string().starts_with("j:2: not a journal record"),
            "{err}"
        );
    }

    #[test]
    fn a_torn_line_closed_by_a_resume_stays_tolerated() {
        let mut text = line(&Entry::Run(Box::new(header())));
        text += "{\"type\":\"sta\n";
        text += &line(&Entry::Resumed {
            at: 3.0,
            command: "resume".into(),
        });
        let r = Replay::parse(text.as_bytes(), "j").expect("tolerated");
        assert_eq!(r.torn, Some((2, 12)));
        assert_eq!(r.last_at, 3.0);
    }

    #[test]
    fn an_error_answer_frees_the_token_for_another_call() {
        let mut text = line(&Entry::Run(Box::new(header())));
        text += &intent_t1();
        text += &line(&Entry::Answer {
            step: "web".into(),
            op: Op::RunInstances,
            token: "t1".into(),
            answer: Value::Null,
            error: Some("InsufficientInstanceCapacity".into()),
            created: vec![],
            at: 1.5,
        });
        let r = Replay::parse(text.as_bytes(), "j").expect("reads");
        assert_eq!(r.tokens.get("t1"), None);
    }
}
