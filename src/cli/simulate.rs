//! `rebound simulate FILE|DIR... --runs N`: the predicted RTO of a runbook, before anyone needs it,
//! from N simulated runs (`ops::simulate`), as a table or JSON.

use std::fmt::Write as _;

use chrono::Utc;

use super::sim_inputs::SimArgs;
use rebound::duration::human;
use rebound::error::Error;
use rebound::ops::simulate::{self, Prediction, Spread};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Runbook files, or directories of `*.runbook` files: each predicted in turn.
    #[arg(required = true, value_name = "FILE|DIR")]
    files: Vec<super::RunbookPath>,
    #[command(flatten)]
    sets: super::Sets,
    /// How many simulated runs.
    #[arg(long, default_value_t = 1000, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    runs: u32,
    /// The first run's seed (run i uses SEED + i): the same seed, the same prediction.
    #[arg(long, default_value_t = 1, value_name = "SEED")]
    seed: u64,
    #[command(flatten)]
    sim: SimArgs,
    /// Text, or JSON: one object for one FILE, an array of them for a directory or several.
    #[arg(long, value_enum, default_value = "text")]
    format: super::ListFormat,
}

pub fn run(args: &Args) -> Result<u8, Error> {
    let files = super::files::some_runbook_files(&args.files)?;
    // Every runbook checked before any is simulated: a broken one is reported with the rest.
    let mut runbooks = Vec::new();
    let mut errors = Vec::new();
    for f in &files {
        match rebound::runbook::load(f, &args.sets.sets) {
            Ok(rb) => runbooks.push(rb),
            Err(e) => errors.push(e.into()),
        }
    }
    Error::of_all(errors, 0)?;
    let inputs = args.sim.load()?;
    let profile = inputs.effective_profile();
    let runtime = super::runtime_on(true)?;
    let predictions: Vec<Prediction> = runbooks
        .iter()
        .map(|rb| {
            let world = inputs
                .world
                .clone()
                .unwrap_or_else(|| rebound::action::world::default_world(rb, Utc::now()));
            runtime.block_on(simulate::simulate(
                rb,
                &world,
                &profile,
                args.runs as usize,
                args.seed,
            ))
        })
        .collect();
    let text = || predictions.iter().map(text).collect::<Vec<_>>().join("\n");
    match predictions.as_slice() {
        [one] if args.files.len() == 1 && !args.files[0].is_dir() => {
            args.format.print(one, text);
        }
        all => args.format.print(&all, text),
    }
    Ok(0)
}

fn secs(s: Option<f64>) -> String {
    s.map_or_else(|| "-".to_string(), human)
}

fn spread(s: &Spread) -> String {
    format!(
        "p50 {:>7}  p95 {:>7}  p99 {:>7}  max {:>7}",
        secs(s.p50),
        secs(s.p95),
        secs(s.p99),
        secs(s.max)
    )
}

fn target(t: Option<f64>, chance: Option<f64>) -> String {
    match (t, chance) {
        (Some(t), Some(c)) => format!("  target {}: met in {:.1}%", human(t), c * 100.0),
        _ => String::new(),
    }
}

fn text(p: &Prediction) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}: {} simulated runs (seeds {}..{}), {} recovered",
        p.runbook,
        p.runs,
        p.seed,
        p.seed.wrapping_add(p.runs as u64).wrapping_sub(1),
        p.succeeded
    );
    for path in &p.paths {
        let _ = writeln!(
            out,
            "  path {:<12} {}{}",
            path.name,
            spread(&path.rto),
            target(path.rto_target_seconds, path.rto_chance)
        );
    }
    let _ = writeln!(
        out,
        "  {:<17} {}{}",
        "run",
        spread(&p.rto),
        target(p.rto_target_seconds, p.rto_chance)
    );
    if !p.critical_steps.is_empty() {
        let _ = writeln!(out, "most often on the critical path:");
        for f in p.critical_steps.iter().take(8) {
            let _ = writeln!(out, "  {:>5.1}%  {}", f.share * 100.0, f.step);
        }
    }
    out
}
