//! Any bytes as a runbook file: read (size, UTF-8), scan, parse, check, and for a runbook that
//! checks, plan it and render the plan every way `rebound plan` can. Whatever the input, no
//! stage may panic, every error must render, and `fmt` must give text that parses again to the
//! same format (a formatter that breaks a runbook would be worse than none).
#![no_main]

use libfuzzer_sys::fuzz_target;
use rebound::cloud::latency::LatencyModel;
use rebound::plan::{self, Plan};
use rebound::runbook::{self, diagnostic::Style};

fuzz_target!(|data: &[u8]| {
    let source = match runbook::from_bytes("fuzz.runbook".into(), data.to_vec()) {
        Ok(s) => s,
        Err(e) => {
            let _ = e.render(Style::Plain);
            return;
        }
    };
    if let Ok(file) = runbook::parse(&source) {
        let once = runbook::fmt::format(&file);
        let again = runbook::parse(&runbook::source::Source::new("fmt.runbook", once.clone()))
            .unwrap_or_else(|e| panic!("fmt output does not parse:\n{}\n{once}", e.render(Style::Plain)));
        assert_eq!(runbook::fmt::format(&again), once, "fmt is not idempotent");
    }
    match runbook::check_source(&source, &[]) {
        Ok(rb) => {
            let p = Plan::new(&rb, &LatencyModel::default());
            let _ = plan::text::render(&p);
            let _ = plan::json::render(&p);
            let _ = plan::dot::render(&p);
            let _ = plan::mermaid::render(&p);
        }
        Err(e) => {
            let _ = e.render(Style::Plain);
        }
    }
});
