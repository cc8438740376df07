//! Drawing a run's events for a person: in a terminal, a line for the run and one indicatif
//! bar per path over its steps (its time since t0 against its RTO and what it does or waits
//! for, from `live.rs`) and a spinner per running step, all in one MultiProgress; elsewhere
//! (CI, cron, a pipe) plain timestamped lines, each finished step followed by its path's
//! state, and every minute on the wall clock the state of every path. Both go to stderr, so
//! stdout keeps only the summary.

use super::live::Live;
use super::output;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use rebound::duration::human;
use rebound::exec::{Event, Outcome};
use rebound::runbook::Runbook;
use rebound::runbook::checked::StepId;

pub enum Progress<'r> {
    Bars(Bars<'r>),
    Lines(Lines<'r>),
    Quiet,
}

pub struct Bars<'r> {
    rb: &'r Runbook,
    live: Live<'r>,
    multi: MultiProgress,
    /// The run against its RTO.
    run: ProgressBar,
    /// One bar per path, then one for the steps outside paths if there are any (the order of
    /// `Live::paths`).
    paths: Vec<ProgressBar>,
    running: RefCell<HashMap<StepId, ProgressBar>>,
}

pub struct Lines<'r> {
    rb: &'r Runbook,
    live: Live<'r>,
    /// Run seconds of the last state of every path written.
    last_heartbeat: Cell<f64>,
}

/// How often the plain lines repeat every path's state while the run goes on (wall clock).
const HEARTBEAT_SECS: f64 = 60.0;

impl<'r> Progress<'r> {
    /// `t0_offset`: seconds from t0 to the run's start; `parallelism`: the run's bound, for
    /// "waiting for a free slot".
    pub fn new(rb: &'r Runbook, quiet: bool, t0_offset: f64, parallelism: usize) -> Progress<'r> {
        let live = Live::new(rb, t0_offset, parallelism);
        if quiet {
            Progress::Quiet
        } else if output::stderr_is_terminal() {
            Progress::Bars(Bars::new(rb, live))
        } else {
            Progress::Lines(Lines {
                rb,
                live,
                last_heartbeat: Cell::new(0.0),
            })
        }
    }

    pub fn event(&self, e: &Event) {
        match self {
            Progress::Bars(b) => b.event(e),
            Progress::Lines(l) => l.event(e),
            Progress::Quiet => {}
        }
    }

    /// The wall clock moved on to `at` run seconds with no event: the elapsed times change.
    pub fn tick(&self, at: f64) {
        match self {
            Progress::Bars(b) => {
                b.live.tick(at);
                b.redraw();
            }
            Progress::Lines(l) => {
                l.live.tick(at);
                if at - l.last_heartbeat.get() >= HEARTBEAT_SECS {
                    l.last_heartbeat.set(at);
                    l.every_path(at);
                }
            }
            Progress::Quiet => {}
        }
    }

    /// The bars, for hiding them while a person answers a prompt.
    pub fn bars(&self) -> Option<MultiProgress> {
        match self {
            Progress::Bars(b) => Some(b.multi.clone()),
            _ => None,
        }
    }

    pub fn finish(&self) {
        if let Progress::Bars(b) = self {
            b.run.finish();
            for bar in &b.paths {
                bar.finish();
            }
        }
    }
}

/// One plain line for an event: `[+  6.5s] web: started (launch)`.
pub fn line(rb: &Runbook, e: &Event) -> String {
    let name = |s: StepId| rb.steps[s].name.as_str();
    match e {
        Event::Queued { step, at } => format!("[+{:>7}] {}: ready", human(*at), name(*step)),
        Event::Started { step, attempt, at } => {
            let again = if *attempt > 1 {
                format!(", attempt {attempt}")
            } else {
                String::new()
            };
            format!(
                "[+{:>7}] {}: started ({}{again})",
                human(*at),
                name(*step),
                rb.steps[*step].action.name()
            )
        }
        Event::Progress { step, message, at } => {
            format!("[+{:>7}] {}: {message}", human(*at), name(*step))
        }
        Event::Finished {
            step,
            outcome,
            error,
            at,
        } => {
            let why = error.as_ref().map(|e| format!(": {e}")).unwrap_or_default();
            format!(
                "[+{:>7}] {}: {}{why}",
                human(*at),
                name(*step),
                outcome.name()
            )
        }
        Event::Stopping { reason, at } => format!("[+{:>7}] stopping: {reason}", human(*at)),
    }
}

impl Lines<'_> {
    fn event(&self, e: &Event) {
        let changed = self.live.apply(e);
        output::note(format_args!("{}", line(self.rb, e)));
        // A finished step: where its path stands now, and the run once a path is done.
        if let (&Event::Finished { at, .. }, Some(path)) = (e, changed) {
            let line = self.live.path_line(path);
            output::note(format_args!(
                "[+{:>7}]   {} {line}",
                human(at),
                self.live.path_name(path),
            ));
            if self.live.path_done(path) {
                output::note(format_args!("[+{:>7}] {}", human(at), self.live.run_line()));
            }
        }
    }

    fn every_path(&self, at: f64) {
        output::note(format_args!("[+{:>7}] {}", human(at), self.live.run_line()));
        for path in self.live.paths() {
            output::note(format_args!(
                "[+{:>7}]   {} {}",
                human(at),
                self.live.path_name(path),
                self.live.path_line(path)
            ));
        }
    }
}

impl<'r> Bars<'r> {
    fn new(rb: &'r Runbook, live: Live<'r>) -> Bars<'r> {
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
        let style = ProgressStyle::with_template("{prefix:>12} [{bar:30}] {pos}/{len} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
        let run = multi.add(ProgressBar::new_spinner());
        run.set_style(
            ProgressStyle::with_template("{prefix:>12} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        run.set_prefix(rb.name.clone());
        let paths: Vec<ProgressBar> = live
            .paths()
            .into_iter()
            .map(|p| {
                let len = rb.steps.iter().filter(|s| s.path == p).count() as u64;
                let bar = multi.add(ProgressBar::new(len));
                bar.set_style(style.clone());
                bar.set_prefix(live.path_name(p).to_string());
                bar
            })
            .collect();
        let bars = Bars {
            rb,
            live,
            multi,
            run,
            paths,
            running: RefCell::new(HashMap::new()),
        };
        bars.redraw();
        bars
    }

    /// The bar of a step's path, or the shared bar (last) for a step outside paths.
    fn bar_of(&self, step: StepId) -> Option<&ProgressBar> {
        match self.rb.steps[step].path {
            Some(p) => self.paths.get(p),
            None => self.paths.last(),
        }
    }

    /// Every path's state, and the run's, as `Live` has them now.
    fn redraw(&self) {
        self.run.set_message(self.live.run_line());
        for (bar, path) in self.paths.iter().zip(self.live.paths()) {
            bar.set_message(self.live.path_line(path));
        }
    }

    fn event(&self, e: &Event) {
        self.live.apply(e);
        self.bar_event(e);
        self.redraw();
    }

    fn bar_event(&self, e: &Event) {
        let name = |s: StepId| self.rb.steps[s].name.clone();
        match e {
            Event::Started { step, .. } => {
                let spinner = self.multi.add(ProgressBar::new_spinner());
                spinner.set_style(
                    ProgressStyle::with_template("{prefix:>12} {spinner} {msg} {elapsed}")
                        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                );
                spinner.set_prefix("");
                spinner.set_message(format!(
                    "{} ({})",
                    name(*step),
                    self.rb.steps[*step].action.name()
                ));
                spinner.enable_steady_tick(std::time::Duration::from_millis(120));
                if let Some(old) = self.running.borrow_mut().insert(*step, spinner) {
                    old.finish_and_clear();
                }
            }
            Event::Progress { step, message, .. } => {
                if let Some(s) = self.running.borrow().get(step) {
                    s.set_message(format!("{}: {message}", name(*step)));
                }
            }
            Event::Finished {
                step,
                outcome,
                error,
                ..
            } => {
                if let Some(s) = self.running.borrow_mut().remove(step) {
                    s.finish_and_clear();
                }
                if *outcome != Outcome::Succeeded {
                    let why = error.clone().unwrap_or_default();
                    let _ =
                        self.multi
                            .println(format!("{}: {} {why}", name(*step), outcome.name()));
                }
                if let Some(bar) = self.bar_of(*step) {
                    bar.inc(1);
                }
            }
            Event::Stopping { reason, .. } => {
                let _ = self.multi.println(format!("stopping: {reason}"));
            }
            Event::Queued { .. } => {}
        }
    }
}
