//! Any bytes as a journal file: `resume`, `runs` and `teardown` read journals that a crash may
//! have cut anywhere or a disk may have damaged. Replay must return a result or an error, never
//! panic, and what it answers (outstanding resources, attachments) must be computable.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rebound::exec::journal::Replay;

fuzz_target!(|data: &[u8]| {
    match Replay::parse(data, "fuzz.journal") {
        Ok(replay) => {
            let _ = replay.outstanding();
            let _ = replay.attachments();
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
