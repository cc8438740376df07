//! Ctrl-C and SIGTERM for a run, listened for before its journal exists.
//!
//! Until a process listens for a signal, the kernel's default for SIGTERM and SIGINT is to
//! kill it. A run whose journal was created before anything listened could be killed between
//! the two and leave a journal that says it started and nothing else. So the run's runtime
//! and its listeners are made first ([`Start::new`]), the journal after; a signal that comes in
//! between is kept by the listener and stops the run as soon as it starts, cleanly.

use rebound::error::Error;

/// A run's runtime, with the signal listeners already in place.
pub struct Start {
    pub runtime: tokio::runtime::Runtime,
    pub signals: Signals,
    /// The simulator's virtual clock (time jumps to the next timer), not the wall clock.
    pub virtual_clock: bool,
}

impl Start {
    /// `virtual_clock` for the simulator (see [`super::runtime_on`]).
    pub fn new(virtual_clock: bool) -> Result<Start, Error> {
        let runtime = super::runtime_on(virtual_clock)?;
        let signals = {
            let _in = runtime.enter();
            Signals::listen().map_err(Error::system("cannot listen for Ctrl-C and SIGTERM"))?
        };
        Ok(Start {
            runtime,
            signals,
            virtual_clock,
        })
    }
}

/// Ctrl-C and SIGTERM, each kept from the moment it is listened for, whether or not anything
/// waits for it yet.
pub struct Signals {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
}

impl Signals {
    #[cfg(unix)]
    fn listen() -> std::io::Result<Signals> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Signals {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
        })
    }

    #[cfg(not(unix))]
    fn listen() -> std::io::Result<Signals> {
        Ok(Signals {})
    }

    /// The next Ctrl-C or SIGTERM, whichever comes first; one that came since the last call
    /// (or since listening began) returns at once.
    pub async fn next(&mut self) {
        #[cfg(unix)]
        tokio::select! {
            _ = self.term.recv() => {}
            _ = self.int.recv() => {}
        }
        #[cfg(not(unix))]
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}
