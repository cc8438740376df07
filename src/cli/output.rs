//! Everything the command line shows a person, in one place: results on stdout (what a
//! pipeline reads), notes and prompts on stderr, the log writer, and where the progress view
//! draws. Nothing else in rebound prints (`tests/it/tidy.rs` checks it); the stages return data
//! and errors, and `main` renders an error that ends a command once.

use std::fmt::Display;
use std::io::IsTerminal as _;

use rebound::error::Error;
use rebound::runbook::diagnostic::Style;
use rebound::secret;

/// A result on stdout, as given (the text carries its own newlines).
pub(crate) fn text(text: impl Display) {
    print!("{text}");
}

/// A result line on stdout.
pub(crate) fn line(text: impl Display) {
    println!("{text}");
}

/// A note for the person on stderr: progress, warnings, what was written where.
pub(crate) fn note(text: impl Display) {
    eprintln!("{text}");
}

/// An error that does not end the command (the daemon's broken runbook), rendered as `main`
/// renders the one that does.
pub(crate) fn error(e: &Error) {
    eprint!("{}", e.render(style()));
}

/// Whether a person watches stderr (progress bars rather than plain lines).
pub(crate) fn stderr_is_terminal() -> bool {
    std::io::stderr().is_terminal()
}

/// Colours for a terminal that wants them (`NO_COLOR` honoured).
pub fn style() -> Style {
    if stderr_is_terminal() && std::env::var_os("NO_COLOR").is_none() {
        Style::Color
    } else {
        Style::Plain
    }
}

/// The stdout handle, for writers that want one (shell completions).
pub(crate) fn stdout() -> std::io::Stdout {
    std::io::stdout()
}

/// How the report credits an approval `--approve` gave in advance.
pub(super) fn given_by(who: &str) -> String {
    format!("--approve, given by {who}")
}

/// How the report credits an approval a resume inherited from the run's `--approve`.
pub(super) fn inherited_from(who: Option<&str>) -> String {
    format!(
        "--approve of `rebound run`, given by {}",
        who.unwrap_or("whoever started the run")
    )
}

/// An `approve` step: approved in advance (`approved`: by whom), or by a person at the
/// terminal.
pub(super) async fn ask(
    message: &str,
    approved: Option<String>,
    bars: Option<indicatif::MultiProgress>,
) -> Result<String, String> {
    if let Some(by) = approved {
        return Ok(by);
    }
    if !std::io::stdin().is_terminal() {
        return Err(
            "needs a person to approve, and there is no terminal to ask at; \
                    run with --approve to approve in advance"
                .to_string(),
        );
    }
    let message = message.to_string();
    let answer = tokio::task::spawn_blocking(move || {
        let prompt = move || {
            eprint!("\n{message}\nApprove? [y/N] ");
            let mut line = String::new();
            std::io::stdin().read_line(&mut line).map(|_| line)
        };
        // The bars are hidden while the person reads and answers. Not `suspend`: it holds the
        // bars' lock until the answer, and every redraw of the run (the ticker's, other steps'
        // events) would wait for it on the runtime's one thread, stopping the other paths.
        match bars {
            Some(bars) => {
                bars.set_draw_target(indicatif::ProgressDrawTarget::hidden());
                let answer = prompt();
                bars.set_draw_target(indicatif::ProgressDrawTarget::stderr());
                answer
            }
            None => prompt(),
        }
    })
    .await
    .map_err(|e| e.to_string())?
    .map_err(|e| e.to_string())?;
    if matches!(answer.trim(), "y" | "Y" | "yes") {
        let user = rebound::identity::user();
        Ok(user)
    } else {
        Err("not approved".to_string())
    }
}

/// The log writer: stderr, each event scrubbed. tracing-subscriber formats a whole event and
/// writes it with one `write_all`, so no secret is split across two writes.
pub struct ScrubbedStderr;

impl std::io::Write for ScrubbedStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        std::io::stderr().write_all(secret::scrub(&text).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for ScrubbedStderr {
    type Writer = ScrubbedStderr;

    fn make_writer(&'a self) -> ScrubbedStderr {
        ScrubbedStderr
    }
}
