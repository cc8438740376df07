//! What the unit tests share: a runtime on tokio's paused clock, where a test of timing (a
//! poller's looks, a backoff, a share of a call in flight) waits no wall time and runs the same
//! every time.

/// A current-thread runtime on a paused clock.
pub(crate) fn paused_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .expect("runtime")
}
