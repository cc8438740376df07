//! Generated runbooks of any size, for benchmarks: `scripts/gen-tiers.py` writes them (one
//! generator serves the criterion benches and `scripts/bench`).

/// A runbook of `tiers` tiers; six steps and 30 lines per tier.
pub fn tiers(tiers: usize) -> String {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/gen-tiers.py");
    let out = std::process::Command::new("python3")
        .arg(script)
        .arg(tiers.to_string())
        .output()
        .expect("python3 runs scripts/gen-tiers.py");
    assert!(out.status.success(), "gen-tiers.py failed");
    String::from_utf8(out.stdout).expect("utf-8")
}
