//! The simulator's inputs as `run`, `resume` and `simulate` take them: the account's world, a
//! profile of latencies and faults, a latency model; read from their files and validated
//! before anything runs.

use std::path::PathBuf;

use rebound::cloud::latency::LatencyModel;
use rebound::cloud::sim::{Profile, World};
use rebound::error::Error;

/// The simulator's world, profile and latency model, shared by `run` and `simulate`.
#[derive(Debug, clap::Args)]
pub(super) struct SimArgs {
    /// Simulator: the account's inventory (JSON) instead of one made from the runbook.
    #[arg(long, value_name = "FILE")]
    sim_world: Option<PathBuf>,
    /// Simulator: latencies and faults (JSON; see `cloud::sim::Profile`).
    #[arg(long, value_name = "FILE")]
    sim_profile: Option<PathBuf>,
    /// How long AWS operations take (JSON latency model, every field optional): when the
    /// pollers first look, and the simulator's latencies. Default: README's
    /// model of AWS (`cloud::latency`).
    #[arg(long, value_name = "FILE")]
    latency: Option<PathBuf>,
}

/// What `SimArgs` name, read and validated.
pub(super) struct SimInputs {
    pub profile: Option<Profile>,
    pub latency: Option<LatencyModel>,
    pub world: Option<World>,
}

impl SimArgs {
    pub(super) fn load(&self) -> Result<SimInputs, Error> {
        let validate = |p: &PathBuf, profile: &Profile| {
            profile
                .validate()
                .map_err(|why| Error::Usage(format!("{}: {why}", p.display())))
        };
        let profile = match &self.sim_profile {
            Some(p) => {
                let profile: Profile = read_json(p, "simulator profile")?;
                validate(p, &profile)?;
                Some(profile)
            }
            None => None,
        };
        let latency = match &self.latency {
            Some(p) => {
                let profile = Profile {
                    latency: read_json(p, "latency model")?,
                    ..Profile::default()
                };
                validate(p, &profile)?;
                Some(profile.latency)
            }
            None => None,
        };
        let world = match &self.sim_world {
            Some(p) => Some(read_world(p)?),
            None => None,
        };
        Ok(SimInputs {
            profile,
            latency,
            world,
        })
    }
}

impl SimInputs {
    /// The profile a run uses: the given one (or the default), with `latency` over it.
    pub(super) fn effective_profile(&self) -> Profile {
        let mut profile = self.profile.clone().unwrap_or_default();
        if let Some(l) = &self.latency {
            profile.latency = l.clone();
        }
        profile
    }
}

/// A `--sim-world` file: the JSON of `World`, each id listed once, as an account lists it (the
/// simulator's indexes would answer only one of a repeated id).
pub(super) fn read_world(path: &std::path::Path) -> Result<World, Error> {
    let world = read_json::<World>(path, "simulator world")?;
    if let Some((what, id)) = world.repeated() {
        return Err(Error::Usage(format!(
            "{}: not a valid simulator world: {what} `{id}` is listed twice (an account's ids \
             are unique; `rebound inventory export` lists each once)",
            path.display()
        )));
    }
    Ok(world)
}

pub(super) fn read_json<T: serde::de::DeserializeOwned>(
    path: &std::path::Path,
    what: &str,
) -> Result<T, Error> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::Read {
        path: path.display().to_string(),
        source: e,
    })?;
    serde_json::from_str(&text)
        .map_err(|e| Error::Usage(format!("{}: not a valid {what}: {e}", path.display())))
}
