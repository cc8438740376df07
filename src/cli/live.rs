//! What a responder watching a run needs at each moment, kept from the run's events: for each
//! path, how far it is, the time since t0 against its RTO target, and what it is doing or, when
//! nothing of it runs, what it waits for (another path's step, a free slot, a person); and the
//! run against its own target. The bars and the plain lines (`progress.rs`) both show these
//! facts; this is their one source.

use std::cell::{Cell, RefCell};
use std::time::Duration;

use rebound::duration::human;
use rebound::exec::{Event, Outcome};
use rebound::runbook::Runbook;
use rebound::runbook::checked::{PathId, StepId};

#[derive(Debug, Clone, PartialEq)]
enum State {
    Pending,
    /// Every dependency done; waiting for a slot.
    Ready,
    /// With its last progress message.
    Running(Option<String>),
    /// How, and when (run seconds).
    Done(Outcome, f64),
}

pub struct Live<'r> {
    rb: &'r Runbook,
    /// Seconds from t0 to the run's start: positive when `--declared-at` is before it.
    t0_offset: f64,
    parallelism: usize,
    steps: RefCell<Vec<State>>,
    /// The steps of each path, then those outside paths: computed once, since every event
    /// asks for a path's (a run of thousands of steps must not scan them all each time).
    members: Vec<Vec<StepId>>,
    /// Run seconds now: the last event's, or the clock's when it ticks.
    now: Cell<f64>,
}

impl<'r> Live<'r> {
    pub fn new(rb: &'r Runbook, t0_offset: f64, parallelism: usize) -> Live<'r> {
        Live {
            rb,
            t0_offset,
            parallelism,
            steps: RefCell::new(vec![State::Pending; rb.steps.len()]),
            members: (0..=rb.paths.len())
                .map(|p| {
                    let path = (p < rb.paths.len()).then_some(p);
                    (0..rb.steps.len())
                        .filter(|&s| rb.steps[s].path == path)
                        .collect()
                })
                .collect(),
            now: Cell::new(0.0),
        }
    }

    /// Takes an event in; the path (`Some(None)`: the steps outside paths) it changed, if any.
    pub fn apply(&self, e: &Event) -> Option<Option<PathId>> {
        let (step, state, at) = match e {
            Event::Queued { step, at } => (*step, State::Ready, *at),
            Event::Started { step, at, .. } => (*step, State::Running(None), *at),
            Event::Progress { step, message, at } => {
                (*step, State::Running(Some(message.clone())), *at)
            }
            Event::Finished {
                step, outcome, at, ..
            } => (*step, State::Done(*outcome, *at), *at),
            Event::Stopping { at, .. } => {
                self.tick(*at);
                return None;
            }
        };
        self.tick(at);
        self.steps.borrow_mut()[step] = state;
        Some(self.rb.steps[step].path)
    }

    /// The clock moved on to `at` run seconds without an event.
    pub fn tick(&self, at: f64) {
        if at > self.now.get() {
            self.now.set(at);
        }
    }

    /// The paths to show: each path, then the steps outside paths if there are any.
    pub fn paths(&self) -> Vec<Option<PathId>> {
        let mut out: Vec<Option<PathId>> = (0..self.rb.paths.len()).map(Some).collect();
        if !self.members(None).is_empty() {
            out.push(None);
        }
        out
    }

    pub fn path_name(&self, path: Option<PathId>) -> &str {
        path.map_or("(shared)", |p| self.rb.paths[p].name.as_str())
    }

    fn members(&self, path: Option<PathId>) -> &[StepId] {
        &self.members[path.unwrap_or(self.rb.paths.len())]
    }

    /// Whether every step of the path has ended.
    pub fn path_done(&self, path: Option<PathId>) -> bool {
        let steps = self.steps.borrow();
        self.members(path)
            .iter()
            .all(|&s| matches!(steps[s], State::Done(..)))
    }

    /// `3/5 steps, 4m10s of RTO 10m; running web_ok (verify: status_ok 2/3)`.
    pub fn path_line(&self, path: Option<PathId>) -> String {
        let steps = self.steps.borrow();
        let members = self.members(path);
        let done: Vec<f64> = members
            .iter()
            .filter_map(|&s| match steps[s] {
                State::Done(_, at) => Some(at),
                _ => None,
            })
            .collect();
        let finished = done.len() == members.len();
        // A finished path's clock stopped at its last step.
        let at = if finished {
            done.iter().copied().fold(0.0, f64::max)
        } else {
            self.now.get()
        };
        let target = path.and_then(|p| self.rb.paths[p].rto);
        let clock = self.against(at, target);
        let doing = if finished {
            let failed = members
                .iter()
                .filter(|&&s| matches!(steps[s], State::Done(o, _) if o != Outcome::Succeeded))
                .count();
            match failed {
                0 => "done".to_string(),
                n => format!("done, {n} not succeeded"),
            }
        } else {
            self.doing(&steps, members)
        };
        format!("{}/{} steps, {clock}; {doing}", done.len(), members.len())
    }

    /// `run: 4m10s since t0 of RTO 15m`.
    pub fn run_line(&self) -> String {
        format!("run: {}", self.against(self.now.get(), self.rb.rto))
    }

    /// `4m10s of RTO 10m`, `11m2s: RTO 10m missed by 1m2s`, or `4m10s since t0`.
    fn against(&self, at: f64, target: Option<Duration>) -> String {
        let since = (at + self.t0_offset).max(0.0);
        match target {
            Some(t) if since > t.as_secs_f64() => format!(
                "{} since t0: RTO {} missed by {}",
                human(since),
                human(t.as_secs_f64()),
                human(since - t.as_secs_f64())
            ),
            Some(t) => format!("{} of RTO {}", human(since), human(t.as_secs_f64())),
            None => format!("{} since t0", human(since)),
        }
    }

    /// What an unfinished path is doing, or waits for.
    fn doing(&self, steps: &[State], members: &[StepId]) -> String {
        let name = |s: StepId| self.rb.steps[s].name.as_str();
        let running: Vec<String> = members
            .iter()
            .filter_map(|&s| match &steps[s] {
                State::Running(msg) => {
                    let action = self.rb.steps[s].action.name();
                    Some(match msg {
                        Some(m) => format!("{} ({action}: {m})", name(s)),
                        None if action == "approve" => {
                            format!("{} (waiting for approval)", name(s))
                        }
                        None => format!("{} ({action})", name(s)),
                    })
                }
                _ => None,
            })
            .collect();
        if !running.is_empty() {
            return format!("running {}", running.join(", "));
        }
        let ready: Vec<&str> = members
            .iter()
            .filter(|&&s| steps[s] == State::Ready)
            .map(|&s| name(s))
            .collect();
        if !ready.is_empty() {
            return format!(
                "{} ready, waiting for a free slot (--parallelism {})",
                ready.join(", "),
                self.parallelism
            );
        }
        // Idle: the first pending step's unfinished dependencies.
        let Some(&next) = members.iter().find(|&&s| steps[s] == State::Pending) else {
            return "waiting".to_string();
        };
        let waits: Vec<String> = self.rb.steps[next]
            .deps
            .iter()
            .filter(|&&d| !matches!(steps[d], State::Done(..)))
            .map(|&d| match self.rb.steps[d].path {
                Some(p) if self.rb.steps[next].path != Some(p) => {
                    format!("{} (path {})", name(d), self.rb.paths[p].name)
                }
                _ => name(d).to_string(),
            })
            .collect();
        if waits.is_empty() {
            // Its dependencies just finished: it is queued next.
            format!("next: {}", name(next))
        } else {
            format!("{} waits for {}", name(next), waits.join(", "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rebound::runbook::Source;

    fn runbook() -> Runbook {
        let text = r#"runbook "l" {
  rto = 15m
  path ami {
    rto = 10m
    step image = find_image { tags = { App = "web" } }
    step web = launch { image = image.id, subnet = "subnet-0a", instance_types = ["t3.micro"] }
  }
  path snapshot {
    step data = find_snapshot { tags = { Volume = "data" } }
    step disk = create_volume { snapshot = data.id, zone = web.zone }
  }
}
"#;
        rebound::runbook::check_source(&Source::new("l.runbook", text), &[]).expect("checks")
    }

    #[test]
    fn each_path_says_how_far_it_is_against_its_target_and_what_it_waits_for() {
        let rb = runbook();
        let step = |n: &str| rb.step_named(n).expect("step");
        // Declared 2 minutes before the run started.
        let live = Live::new(&rb, 120.0, 4);
        for e in [
            Event::Started {
                step: step("image"),
                attempt: 1,
                at: 0.0,
            },
            Event::Started {
                step: step("data"),
                attempt: 1,
                at: 0.0,
            },
            Event::Finished {
                step: step("data"),
                outcome: Outcome::Succeeded,
                error: None,
                at: 2.0,
            },
            Event::Finished {
                step: step("image"),
                outcome: Outcome::Succeeded,
                error: None,
                at: 3.0,
            },
            Event::Started {
                step: step("web"),
                attempt: 1,
                at: 3.0,
            },
            Event::Progress {
                step: step("web"),
                message: "pending".into(),
                at: 40.0,
            },
        ] {
            live.apply(&e);
        }
        assert_eq!(
            live.path_line(Some(0)),
            "1/2 steps, 2m40s of RTO 10m00s; running web (launch: pending)"
        );
        assert_eq!(
            live.path_line(Some(1)),
            "1/2 steps, 2m40s since t0; disk waits for web (path ami)"
        );
        assert_eq!(live.run_line(), "run: 2m40s of RTO 15m00s");
        live.tick(600.0);
        assert_eq!(
            live.path_line(Some(0)),
            "1/2 steps, 12m00s since t0: RTO 10m00s missed by 2m00s; running web (launch: pending)"
        );
        live.apply(&Event::Finished {
            step: step("web"),
            outcome: Outcome::Succeeded,
            error: None,
            at: 610.0,
        });
        assert_eq!(
            live.path_line(Some(0)),
            "2/2 steps, 12m10s since t0: RTO 10m00s missed by 2m10s; done"
        );
        live.apply(&Event::Queued {
            step: step("disk"),
            at: 610.0,
        });
        assert_eq!(
            live.path_line(Some(1)),
            "1/2 steps, 12m10s since t0; disk ready, waiting for a free slot (--parallelism 4)"
        );
    }
}
