//! `rebound schedule export FILE|DIR --format systemd|cron|k8s`: each scheduled runbook as
//! units for a scheduler the team already runs (`ops::export` writes them), printed, or written
//! one file per unit under `--out`. Runbooks without a schedule are skipped with a note.

use super::output;
use std::path::{Path, PathBuf};

use clap::ValueEnum as _;

use super::files::runbook_files;
use super::run::Backend;
use rebound::error::Error;
use rebound::ops::export::{self, Drill, Job, Options};
use rebound::runbook::schedule::Schedule;
use rebound::runbook::{self, Runbook};

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Each runbook's schedule as systemd timers, a crontab or Kubernetes CronJobs, each
    /// running `rebound run FILE --drill`; runbooks without a schedule are skipped.
    #[command(after_help = "Examples:\n  \
            rebound schedule export runbooks/ --format systemd --out /etc/systemd/system\n  \
            systemctl daemon-reload && systemctl enable --now rebound-drill-web-tier.timer\n  \
            rebound schedule export runbooks/ --format cron --out cron/\n  \
            crontab cron/rebound-drills.crontab   # replaces this user's crontab\n  \
            rebound schedule export runbooks/ --format k8s --image registry.example.com/rebound:1.4 \
            | kubectl apply -f -")]
    Export(Args),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// A .service and a .timer per runbook.
    Systemd,
    /// One crontab fragment (rebound-drills.crontab).
    Cron,
    /// A ConfigMap and a CronJob per runbook, one YAML stream (rebound-drills.yaml).
    K8s,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Runbook files, or directories of `*.runbook` files.
    #[arg(required = true, value_name = "FILE|DIR")]
    paths: Vec<PathBuf>,
    #[arg(long, value_enum)]
    format: Format,
    /// Write one file per unit into DIR (each replaced atomically) instead of printing them.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// The rebound binary the units start (default: this one).
    #[arg(long, value_name = "PATH")]
    rebound: Option<PathBuf>,
    /// k8s: the container image; its entrypoint must be rebound.
    #[arg(long, value_name = "IMAGE", default_value = export::DEFAULT_IMAGE)]
    image: String,
    /// Where the drills run.
    #[arg(long, value_enum, default_value = "aws")]
    backend: Backend,
    /// Each drill writes its reports into DIR/<runbook>/ (k8s: a path in the container); the
    /// latest drill's are there, the history keeps every one.
    #[arg(long, value_name = "DIR")]
    report_dir: Option<PathBuf>,
    /// Arguments for every `rebound run` the units start, after `--` (e.g.
    /// `-- --history s3://dr-evidence/rebound`, which a Kubernetes pod needs to keep its
    /// history).
    #[arg(last = true, value_name = "RUN ARGS")]
    run_args: Vec<String>,
}

/// A runbook with a schedule or a readiness schedule (or both), and the absolute path its
/// units name.
struct Scheduled {
    runbook: Runbook,
    schedule: Option<Schedule>,
    readiness: Option<Schedule>,
    file: String,
}

pub fn run(command: &Command) -> Result<u8, Error> {
    let Command::Export(args) = command;
    let mut scheduled = Vec::new();
    let mut errors = Vec::new();
    for file in runbook_files(&args.paths)? {
        match load(&file) {
            Ok(Some(s)) => scheduled.push(s),
            Ok(None) => {}
            Err(e) => errors.push(e),
        }
    }
    if !errors.is_empty() {
        return Error::of_all(errors, 0);
    }
    if scheduled.is_empty() {
        output::note("note: no runbook has a schedule; nothing to export");
        return Ok(0);
    }
    let options = options(args)?;
    let drills: Vec<Drill<'_>> = scheduled
        .iter()
        .flat_map(|s| {
            [(Job::Drill, &s.schedule), (Job::Readiness, &s.readiness)]
                .into_iter()
                .filter_map(move |(job, schedule)| {
                    Some(Drill {
                        job,
                        name: &s.runbook.name,
                        file: &s.file,
                        text: &s.runbook.source.text,
                        schedule: schedule.as_ref()?,
                    })
                })
        })
        .collect();
    let units = match args.format {
        Format::Systemd => export::systemd(&drills, &options),
        Format::Cron => export::crontab(&drills, &options),
        Format::K8s => {
            // A pod's local history is lost with the pod: its readiness checks would be too.
            if drills.iter().any(|d| d.job == Job::Readiness) {
                output::note(
                    "note: readiness checks are not exported as CronJobs: a pod's local \
                     history, where they are kept, is lost with the pod; run them from \
                     `rebound daemon` or a systemd timer",
                );
            }
            let drills: Vec<Drill<'_>> =
                drills.into_iter().filter(|d| d.job == Job::Drill).collect();
            export::kubernetes(&drills, &options)
        }
    };
    let units = match units {
        Ok(units) => units,
        Err(es) => {
            return Error::of_all(es.into_iter().map(Error::from).collect(), 2);
        }
    };
    if let Some(dir) = &args.out {
        std::fs::create_dir_all(dir).map_err(|e| Error::Write {
            path: dir.display().to_string(),
            source: e,
        })?;
        for unit in &units {
            let path = dir.join(&unit.name);
            super::fmt::write_atomically(&path, &unit.text)?;
            output::line(format_args!("wrote {}", path.display()));
        }
    } else {
        // Every unit opens with a comment naming its file, so one after another still reads.
        let texts: Vec<&str> = units.iter().map(|u| u.text.as_str()).collect();
        output::text(format_args!("{}", texts.join("\n")));
    }
    Ok(0)
}

/// One runbook, or `None` (with a note) when it has no schedule.
fn load(file: &Path) -> Result<Option<Scheduled>, Error> {
    let runbook = runbook::load(file, &[])?;
    if runbook.schedule.is_none() && runbook.readiness.is_none() {
        output::note(format_args!(
            "note: {}: runbook `{}` has no schedule; skipped",
            file.display(),
            runbook.name
        ));
        return Ok(None);
    }
    // The checker accepted them, so this does not fail; say so plainly if it does.
    let parse = |text: Option<&str>| {
        text.map(Schedule::parse)
            .transpose()
            .map_err(|e| Error::Usage(format!("{}: {}", file.display(), e.message)))
    };
    let schedule = parse(runbook.schedule.as_deref())?;
    let readiness = parse(runbook.readiness.as_deref())?;
    // A timer or cron job runs from anywhere: it names the runbook by its absolute path.
    let absolute = std::fs::canonicalize(file).map_err(|e| Error::Read {
        path: file.display().to_string(),
        source: e,
    })?;
    Ok(Some(Scheduled {
        runbook,
        schedule,
        readiness,
        file: absolute.display().to_string(),
    }))
}

/// The binary, image, backend and report directory every unit uses.
fn options(args: &Args) -> Result<Options, Error> {
    let rebound = match &args.rebound {
        // systemd refuses a relative ExecStart, and cron runs from $HOME.
        Some(p) => std::path::absolute(p)
            .map_err(|e| Error::Usage(format!("--rebound {}: {e}", p.display())))?,
        None => std::env::current_exe().map_err(|e| {
            Error::Usage(format!(
                "cannot tell where this rebound is ({e}); give --rebound"
            ))
        })?,
    };
    // On the host, units do not run in this directory; in a container, the path is the
    // container's.
    let report_dir = match &args.report_dir {
        Some(d) if args.format != Format::K8s => Some(
            std::path::absolute(d)
                .map_err(|e| Error::Usage(format!("--report-dir {}: {e}", d.display())))?,
        ),
        other => other.clone(),
    };
    Ok(Options {
        rebound: rebound.display().to_string(),
        image: args.image.clone(),
        backend: args
            .backend
            .to_possible_value()
            .map(|v| v.get_name().to_string())
            .unwrap_or_default(),
        report_dir: report_dir.map(|d| d.display().to_string()),
        extra: args.run_args.clone(),
    })
}
