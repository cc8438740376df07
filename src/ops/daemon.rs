//! The daemon's decisions, apart from its processes and clock so they can be tested: which
//! drill is due, what happens to times missed while the daemon was down, and what it
//! remembers across restarts.
//!
//! The rules, for the person on call:
//! - A runbook's drill is due at each time its `schedule` names. A time that comes while the
//!   previous drill of that runbook is still running is skipped (never two at once), as a
//!   Kubernetes CronJob with `concurrencyPolicy: Forbid` does.
//! - Times missed while the daemon was down (or the machine asleep): with `Missed::Once` (the
//!   default) the drill runs once, at start, however many times were missed, as systemd's
//!   `Persistent=true` does; with `Missed::Skip` they are skipped and the next time is waited
//!   for. A time is missed when it is more than `LATE` in the past when looked at.
//! - The last time each runbook's drill was started is kept in `daemon.json` in the state
//!   directory, so a restart knows what it missed. A runbook the daemon has never seen starts
//!   from now: its past times are not "missed".

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::runbook::schedule::Schedule;

/// How late a time may be looked at and still count as on time.
pub(crate) const LATE: Duration = Duration::seconds(60);

/// What to do with times missed while the daemon was down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Missed {
    /// Run the drill once, now.
    Once,
    /// Wait for the next time.
    Skip,
}

/// What the daemon should do about one runbook now.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Nothing is due; look again at `next`.
    Wait { next: Option<DateTime<Utc>> },
    /// Start a drill for the time `slot`; `missed` earlier times were folded into it.
    Run { slot: DateTime<Utc>, missed: usize },
    /// The times up to `slot` pass without a drill (`missed` of them), because of
    /// `Missed::Skip` or because the previous drill is still running.
    Skip {
        slot: DateTime<Utc>,
        missed: usize,
        busy: bool,
    },
}

/// Decides for one runbook whose drills have been started up to `cursor` (the last time
/// acted on), at `now`, with a drill of it running or not.
pub fn decide(
    schedule: &Schedule,
    cursor: DateTime<Utc>,
    now: DateTime<Utc>,
    busy: bool,
    policy: Missed,
) -> Decision {
    let (count, last) = schedule.due(cursor, now);
    let Some(slot) = last else {
        return Decision::Wait {
            next: schedule.next(cursor, 1).first().copied(),
        };
    };
    let late = now - slot > LATE;
    if busy || (late && policy == Missed::Skip) {
        return Decision::Skip {
            slot,
            missed: count,
            busy,
        };
    }
    Decision::Run {
        slot,
        missed: if late { count } else { count - 1 },
    }
}

/// What the daemon remembers: per runbook file, the last time acted on and the schedule it
/// belonged to (a changed schedule starts again from now: its new times before the change were
/// never due).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Memory {
    pub last: BTreeMap<String, Last>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Last {
    pub at: DateTime<Utc>,
    /// The schedule as `Schedule`'s `Display` writes it.
    pub schedule: String,
}

impl Memory {
    /// The cursor of `file` under `schedule`: the last time acted on, or `now` when the file
    /// or its schedule is new to the daemon.
    pub fn cursor(&mut self, file: &str, schedule: &Schedule, now: DateTime<Utc>) -> DateTime<Utc> {
        let text = schedule.to_string();
        let last = self.last.entry(file.to_string()).or_insert_with(|| Last {
            at: now,
            schedule: text.clone(),
        });
        if last.schedule != text {
            *last = Last {
                at: now,
                schedule: text,
            };
        }
        last.at
    }

    /// Records that the times of `file` up to `at` were acted on.
    pub fn acted(&mut self, file: &str, at: DateTime<Utc>) {
        if let Some(last) = self.last.get_mut(file) {
            last.at = at;
        }
    }

    /// Reads `path`; nothing remembered when it does not exist.
    pub fn read(path: &Path) -> std::io::Result<Memory> {
        match std::fs::read_to_string(path) {
            Ok(text) => serde_json::from_str(&text)
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Memory::default()),
            Err(e) => Err(e),
        }
    }

    /// Writes `path` whole, so a crash leaves the old or the new memory, never half of one.
    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        let text = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
        crate::atomic_file::write(path, text.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runbook::schedule::tests::at;

    fn hourly() -> Schedule {
        Schedule::parse("0 * * * *").expect("parses")
    }

    #[test]
    fn nothing_due_waits_for_the_next_time() {
        let d = decide(
            &hourly(),
            at("2026-11-30T10:00:00Z"),
            at("2026-11-30T10:30:00Z"),
            false,
            Missed::Once,
        );
        assert_eq!(
            d,
            Decision::Wait {
                next: Some(at("2026-11-30T11:00:00Z"))
            }
        );
    }

    #[test]
    fn a_time_just_come_runs() {
        let d = decide(
            &hourly(),
            at("2026-11-30T10:00:00Z"),
            at("2026-11-30T11:00:01Z"),
            false,
            Missed::Once,
        );
        assert_eq!(
            d,
            Decision::Run {
                slot: at("2026-11-30T11:00:00Z"),
                missed: 0
            }
        );
    }

    #[test]
    fn times_missed_while_down_run_once_or_are_skipped() {
        let (cursor, now) = (at("2026-11-30T07:00:00Z"), at("2026-11-30T10:20:00Z"));
        assert_eq!(
            decide(&hourly(), cursor, now, false, Missed::Once),
            Decision::Run {
                slot: at("2026-11-30T10:00:00Z"),
                missed: 3
            }
        );
        assert_eq!(
            decide(&hourly(), cursor, now, false, Missed::Skip),
            Decision::Skip {
                slot: at("2026-11-30T10:00:00Z"),
                missed: 3,
                busy: false
            }
        );
    }

    #[test]
    fn a_running_drill_skips_the_time() {
        let d = decide(
            &hourly(),
            at("2026-11-30T10:00:00Z"),
            at("2026-11-30T11:00:00Z"),
            true,
            Missed::Once,
        );
        assert_eq!(
            d,
            Decision::Skip {
                slot: at("2026-11-30T11:00:00Z"),
                missed: 1,
                busy: true
            }
        );
    }

    #[test]
    fn a_new_or_changed_schedule_starts_from_now() {
        let mut m = Memory::default();
        let now = at("2026-11-30T10:20:00Z");
        assert_eq!(m.cursor("a", &hourly(), now), now);
        m.acted("a", at("2026-11-30T11:00:00Z"));
        assert_eq!(m.cursor("a", &hourly(), now), at("2026-11-30T11:00:00Z"));
        let daily = Schedule::parse("0 3 * * *").expect("parses");
        assert_eq!(m.cursor("a", &daily, now), now);
    }

    #[test]
    fn memory_round_trips_and_starts_empty() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("daemon.json");
        assert_eq!(Memory::read(&path).expect("read"), Memory::default());
        let mut m = Memory::default();
        m.cursor("a.runbook", &hourly(), at("2026-11-30T10:00:00Z"));
        m.write(&path).expect("write");
        assert_eq!(Memory::read(&path).expect("read"), m);
    }
}
