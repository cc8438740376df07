//! Speed of the language stages (issue goals: `check` of a 10,000-line runbook under 100 ms;
//! `plan` of 5,000 steps under 50 ms). Run: `cargo bench --bench language`.

mod common;

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use rebound::cloud::latency::LatencyModel;
use rebound::plan::Plan;
use rebound::runbook::{self, Source};

fn language(c: &mut Criterion) {
    // Just over 10,000 lines: 334 tiers of 30 lines.
    let text = common::tiers(334);
    let lines = text.lines().count();
    assert!(lines >= 10_000, "{lines} lines");
    let source = Source::new("generated.runbook", text);
    c.bench_function(&format!("check {lines} lines"), |b| {
        b.iter(|| runbook::check_source(black_box(&source), &[]).expect("checks"));
    });

    let file = runbook::parse(&source).expect("parses");
    c.bench_function(&format!("fmt {lines} lines"), |b| {
        b.iter(|| runbook::fmt::format(black_box(&file)));
    });

    // 5,004 steps: 834 tiers of six.
    let big = Source::new("big.runbook", common::tiers(834));
    let rb = runbook::check_source(&big, &[]).expect("checks");
    let model = LatencyModel::default();
    c.bench_function(&format!("plan {} steps", rb.steps.len()), |b| {
        b.iter(|| Plan::new(black_box(&rb), &model));
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = language
}
criterion_main!(benches);
