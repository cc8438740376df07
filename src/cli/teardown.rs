//! `rebound teardown RUN`: removes what a run created, later: after a crash, after a second
//! Ctrl-C, or for a recovery whose restored systems are no longer wanted. What to delete comes
//! from the journal and from the account's tags; what may be deleted from the live tags alone
//! (see `exec::teardown`). Exit 4 when anything is left.

use super::session::Session;
use rebound::error::Error;
use rebound::exec::journal::Journal;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The run's id (`rebound runs` lists them).
    #[arg(value_name = "RUN")]
    run: String,
    #[command(flatten)]
    state: super::StateArgs,
    #[command(flatten)]
    teardown: super::TeardownArgs,
    #[command(flatten)]
    aws: super::AwsArgs,
}

pub fn run(args: &Args, quiet: bool) -> Result<u8, Error> {
    let (locked, replay) = super::resume::open(&args.state, &args.run, "teardown")?;
    let rb = super::resume::runbook_of(&replay)?;
    let journal = Journal::reopen(locked, &replay, "teardown")?;
    let outstanding = replay.outstanding();
    Session {
        rb: &rb,
        header: &replay.header,
        journal: &journal,
        prior: None,
        attachments: replay.attachments(),
        // A teardown waits for nothing: what it puts back counts as long made.
        earlier: outstanding
            .iter()
            .map(|(s, c)| (s.clone(), c.clone(), f64::MIN))
            .collect(),
        outputs: &super::Outputs::default(),
        history: &super::HistoryArgs {
            path: None,
            retention: 0,
        },
        quiet,
        aws: &args.aws,
        teardown: args.teardown.limits(),
        attempt: replay.next_attempt(),
        approve: None,
    }
    .teardown(&outstanding, super::resume::clock(&replay))
}
