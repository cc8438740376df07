//! Drawing a run's events for a person: in a terminal, one indicatif bar per path over its
//! steps and a spinner per running step, all in one MultiProgress; elsewhere (CI, cron, a
//! pipe) plain timestamped lines. Both go to stderr, so stdout keeps only the summary.

use super::output;
use std::cell::RefCell;
use std::collections::HashMap;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use rebound::duration::human;
use rebound::exec::{Event, Outcome};
use rebound::runbook::Runbook;
use rebound::runbook::checked::StepId;

pub enum Progress<'r> {
    Bars(Bars<'r>),
    Lines(&'r Runbook),
    Quiet,
}

pub struct Bars<'r> {
    rb: &'r Runbook,
    multi: MultiProgress,
    /// One bar per path, then one for the steps outside paths if there are any.
    paths: Vec<ProgressBar>,
    running: RefCell<HashMap<StepId, ProgressBar>>,
}

impl<'r> Progress<'r> {
    pub fn new(rb: &'r Runbook, quiet: bool) -> Progress<'r> {
        if quiet {
            Progress::Quiet
        } else if output::stderr_is_terminal() {
            Progress::Bars(Bars::new(rb))
        } else {
            Progress::Lines(rb)
        }
    }

    pub fn event(&self, e: &Event) {
        match self {
            Progress::Bars(b) => b.event(e),
            Progress::Lines(rb) => output::note(format_args!("{}", line(rb, e))),
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

impl<'r> Bars<'r> {
    fn new(rb: &'r Runbook) -> Bars<'r> {
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
        let style = ProgressStyle::with_template("{prefix:>12} [{bar:30}] {pos}/{len} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
        let mut paths: Vec<ProgressBar> = rb
            .paths
            .iter()
            .enumerate()
            .map(|(p, def)| {
                let bar = multi.add(ProgressBar::new(rb.path_steps(p).count() as u64));
                bar.set_style(style.clone());
                bar.set_prefix(def.name.clone());
                bar
            })
            .collect();
        let shared = rb.steps.iter().filter(|s| s.path.is_none()).count() as u64;
        if shared > 0 {
            let bar = multi.add(ProgressBar::new(shared));
            bar.set_style(style);
            bar.set_prefix("(shared)");
            paths.push(bar);
        }
        Bars {
            rb,
            multi,
            paths,
            running: RefCell::new(HashMap::new()),
        }
    }

    /// The bar of a step's path, or the shared bar (last) for a step outside paths.
    fn bar_of(&self, step: StepId) -> Option<&ProgressBar> {
        match self.rb.steps[step].path {
            Some(p) => self.paths.get(p),
            None => self.paths.last(),
        }
    }

    fn event(&self, e: &Event) {
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
                    bar.set_message(format!("{} {}", name(*step), outcome.name()));
                }
            }
            Event::Stopping { reason, .. } => {
                let _ = self.multi.println(format!("stopping: {reason}"));
            }
            Event::Queued { .. } => {}
        }
    }
}
