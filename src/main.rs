//! The `rebound` binary: parse the command line, run, render an error once, exit with the code
//! of README's table (0 ok, 1 failed, 2 bad input, 3 target missed, 4 resources left).

use std::io::IsTerminal as _;
use std::process::ExitCode;

mod cli;

use clap::Parser as _;

use crate::cli::{Cli, LogFormat, output};

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose, cli.quiet, cli.log_format);
    match cli::run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprint!("{}", e.render(output::style()));
            ExitCode::from(e.exit_code())
        }
    }
}

fn init_logging(verbose: u8, quiet: bool, format: LogFormat) {
    let default = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, 2) => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    // Each line scrubbed of every secret registered (rebound::secret): the AWS SDK's trace of a
    // request holds the session token and the user data.
    rebound::secret::register_env_credentials();
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(output::ScrubbedStderr);
    match format {
        // Log shippers want times; a person at a terminal does not.
        LogFormat::Json => logs.json().init(),
        LogFormat::Text => logs
            .with_ansi(std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none())
            .without_time()
            .init(),
    }
}
