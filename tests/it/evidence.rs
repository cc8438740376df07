//! Evidence: the renderings of one fixed simulated run (golden Markdown and JUnit, HTML that
//! parses and references nothing outside itself), the history's hash chain under tampering,
//! and the trend's numbers against hand-computed ones.

use crate::common;

use std::cell::RefCell;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::FutureExt as _;
use rebound::cloud::sim::{Profile, Sim};
use rebound::evidence::history::{self, History as _, sqlite::Sqlite};
use rebound::evidence::report::{Mode, RanBy, Report};
use rebound::evidence::{html, junit, markdown, trend};
use rebound::exec::journal::Journal;
use rebound::exec::{self, Options, timings};
use rebound::plan::Plan;
use rebound::runbook::{self, Source};

/// A fixed moment, so that every time in the report is the same on every machine.
fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-22T03:00:00Z")
        .map(|t| t.with_timezone(&Utc))
        .expect("a time")
}

fn web_tier() -> String {
    common::example_text("web-tier")
}

/// The web-tier example as a drill on the simulator, seed 7, at `t0()`.
pub(crate) fn fixed_report() -> Report {
    let source = Source::new("runbooks/web-tier.runbook", web_tier());
    let rb = runbook::check_source(&source, &[]).expect("checks");
    let profile = Profile::default();
    let plan = Plan::new(&rb, &profile.latency);
    let approve = |_: &str| async { Ok("--approve".to_string()) }.boxed_local();
    let journal = Journal::memory();
    let opts = Options {
        run_id: "20261122T030000Z-0007".to_string(),
        t0: Some(t0()),
        parallelism: 4096,
        model: profile.latency.clone(),
        tick: Duration::from_secs(1),
        approve: &approve,
        journal: &journal,
        prior: None,
        sandbox: None,
    };
    let runtime = common::paused_runtime();
    let events = RefCell::new(0);
    let mut record = runtime.block_on(async {
        let sim = Sim::new(
            rebound::action::world::default_world(&rb, t0()),
            profile.clone(),
            7,
        );
        let sims = rebound::cloud::Regions::new(sim, &rb.regions());
        exec::execute(
            &plan,
            &sims,
            &opts,
            &|_| *events.borrow_mut() += 1,
            std::future::pending(),
        )
        .await
    });
    record.started = t0();
    let t = timings::compute(&rb, &record);
    let mut report = Report::new(&rb, &record, &t, Mode::Drill, false);
    report.seed = Some(7);
    report.ran_by = RanBy {
        user: "auditor".to_string(),
        host: "dr-host".to_string(),
    };
    report.digest = Some(report.compute_digest());
    report
}

#[test]
fn markdown_of_a_fixed_run() {
    insta::assert_snapshot!(markdown::render(&fixed_report()));
}

/// The report files' two documents come from one `Doc`, and say what each rendering says alone.
#[test]
fn report_md_and_html_are_laid_out_from_one_document() {
    let r = fixed_report();
    let (md, page) = rebound::evidence::markdown_and_html(&r);
    assert_eq!(md, markdown::render(&r));
    assert_eq!(page, html::render(&r));
}

#[test]
fn junit_of_a_fixed_run() {
    let xml = junit::render(&fixed_report());
    // One case per step and one per target.
    assert_eq!(xml.matches("<testcase ").count(), 9 + 2 + 2, "{xml}");
    insta::assert_snapshot!(xml);
}

#[test]
fn html_parses_and_references_nothing_outside_itself() {
    let page = html::render(&fixed_report());
    // Well-formed: every element closed, in order (quick-xml checks end names).
    let mut reader = quick_xml::Reader::from_str(&page);
    reader.config_mut().check_end_names = true;
    let mut depth = 0i32;
    let mut svg = 0;
    loop {
        match reader.read_event() {
            Ok(quick_xml::events::Event::Start(e)) => {
                depth += 1;
                if e.name().as_ref() == b"svg" {
                    svg += 1;
                }
            }
            Ok(quick_xml::events::Event::End(_)) => depth -= 1,
            Ok(quick_xml::events::Event::Eof) => break,
            Ok(_) => {}
            Err(e) => panic!("not well-formed at {}: {e}", reader.buffer_position()),
        }
    }
    assert_eq!(depth, 0);
    // One timeline, and a gauge per target: paths ami and snapshot, the run's RTO, the RPO.
    assert_eq!(svg, 1 + 4, "one SVG timeline and four gauges");
    assert_eq!(
        page.matches("aria-label=\"timeline of the run's steps\"")
            .count(),
        1
    );
    for external in ["<script", "src=", "href=", "@import", "<link"] {
        assert!(!page.contains(external), "{external} in the page");
    }
    // `url(` only for the page's own SVG patterns (`url(#hatch0)`), never a fetch.
    assert_eq!(page.matches("url(").count(), page.matches("url(#").count());
    // The one URL is the SVG namespace, which is a name, not a fetch.
    let urls = page.matches("http").count();
    assert_eq!(urls, page.matches("http://www.w3.org/2000/svg").count());
    assert!(page.contains("Simulated run"), "no simulated-run banner");
    // Nine bars, the critical path outlined.
    assert_eq!(page.matches("rx=\"2\"").count(), 9);
    assert!(page.contains("stroke=\"#bf8700\""));
}

fn history_of(n: usize) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("history.sqlite");
    let mut h = Sqlite::open(&path).expect("open");
    for i in 0..n {
        let mut r = fixed_report();
        r.run_id = format!("run-{i}");
        h.append(&mut r, None)
            .now_or_never()
            .expect("sqlite answers at once")
            .expect("append");
    }
    (dir, path)
}

fn verify_cli(path: &std::path::Path) -> (Option<i32>, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rebound"))
        .args(["history", "verify", "--history"])
        .arg(path)
        .output()
        .expect("run");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

fn tamper(path: &std::path::Path, sql: &str) {
    let conn = rusqlite::Connection::open(path).expect("open");
    conn.execute_batch(sql).expect("tamper");
}

#[test]
fn an_untouched_history_verifies() {
    let (_dir, path) = history_of(4);
    let (code, out) = verify_cli(&path);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("4 records, the chain holds"), "{out}");
    let records = Sqlite::open(&path)
        .expect("open")
        .records()
        .now_or_never()
        .expect("sqlite answers at once")
        .expect("records");
    assert_eq!(history::verify(&records), Ok(4));
    // Each record points at the one before it.
    let second = records[1].report().expect("report");
    assert_eq!(
        second.previous_digest.as_deref(),
        Some(records[0].digest.as_str())
    );
}

#[test]
fn an_edited_rto_is_caught_and_named() {
    let (_dir, path) = history_of(4);
    let records = Sqlite::open(&path)
        .expect("open")
        .records()
        .now_or_never()
        .expect("sqlite answers at once")
        .expect("records");
    let report = records[2].report().expect("report");
    let measured = report.rto.measured_seconds.expect("measured");
    let edited = records[2].json.replacen(
        &format!("\"measured_seconds\": {measured}"),
        "\"measured_seconds\": 60.0",
        1,
    );
    assert_ne!(edited, records[2].json, "the edit did not apply");
    let conn = rusqlite::Connection::open(&path).expect("open");
    conn.execute(
        "UPDATE runs SET report = ?1 WHERE seq = 3",
        rusqlite::params![edited],
    )
    .expect("edit");
    let (code, out) = verify_cli(&path);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("record 3 (run run-2)") && out.contains("edited"),
        "{out}"
    );
}

#[test]
fn a_deleted_middle_record_is_caught_and_named() {
    let (_dir, path) = history_of(4);
    tamper(&path, "DELETE FROM runs WHERE seq = 2");
    let (code, out) = verify_cli(&path);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("record 3 (run run-2)") && out.contains("deleted, inserted or moved"),
        "{out}"
    );
}

#[test]
fn swapped_records_are_caught_and_named() {
    let (_dir, path) = history_of(4);
    tamper(
        &path,
        "UPDATE runs SET seq = -2 WHERE seq = 2; UPDATE runs SET seq = 2 WHERE seq = 3; UPDATE runs SET seq = 3 WHERE seq = -2;",
    );
    let (code, out) = verify_cli(&path);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("record 2 (run run-2)"), "{out}");
}

#[test]
fn an_inserted_record_is_caught_and_named() {
    let (_dir, path) = history_of(3);
    // A record copied in between, digest and all: out of chain.
    tamper(
        &path,
        "UPDATE runs SET seq = seq + 100 WHERE seq >= 2;
         INSERT INTO runs (seq, run_id, runbook, started_at, outcome, simulated, report, digest)
         SELECT 2, run_id, runbook, started_at, outcome, simulated, report, digest FROM runs WHERE seq = 1;",
    );
    let records = Sqlite::open(&path)
        .expect("open")
        .records()
        .now_or_never()
        .expect("sqlite answers at once")
        .expect("records");
    let broken = history::verify(&records).expect_err("caught");
    assert_eq!(broken.seq, records[1].seq, "{broken:?}");
}

/// A report as real AWS would give it, with these figures.
pub(crate) fn aws_report(
    run: &str,
    started: &str,
    rto: f64,
    rpo: f64,
    ami: f64,
    snap: f64,
    cleaned: bool,
) -> Report {
    let mut r = fixed_report();
    r.run_id = run.to_string();
    r.backend = "aws".to_string();
    r.simulated = false;
    r.seed = None;
    r.started_at = started.to_string();
    r.rto.measured_seconds = Some(rto);
    r.rto.met = Some(rto <= 900.0);
    r.rpo.measured_seconds = Some(rpo);
    r.paths[0].measured_seconds = Some(ami);
    r.paths[0].met = Some(ami <= 600.0);
    r.paths[1].measured_seconds = Some(snap);
    for x in &mut r.resources {
        x.teardown = Some("verified".to_string());
    }
    if !cleaned {
        r.resources[0].teardown = Some("failed".to_string());
    }
    r
}

#[test]
fn trend_numbers_match_hand_computed_ones() {
    let reports = vec![
        aws_report(
            "a",
            "2026-11-01T03:00:00Z",
            300.0,
            3600.0,
            250.0,
            300.0,
            true,
        ),
        aws_report(
            "b",
            "2026-11-08T03:00:00Z",
            500.0,
            7200.0,
            480.0,
            500.0,
            true,
        ),
        aws_report(
            "c",
            "2026-11-15T03:00:00Z",
            1000.0,
            1800.0,
            700.0,
            1000.0,
            false,
        ),
        aws_report(
            "d",
            "2026-11-20T03:00:00Z",
            400.0,
            3600.0,
            390.0,
            400.0,
            true,
        ),
        // Outside the window, and a simulated run: neither counts.
        aws_report(
            "old",
            "2026-09-01T03:00:00Z",
            5000.0,
            99999.0,
            5000.0,
            5000.0,
            false,
        ),
        fixed_report(),
    ];
    let since = DateTime::parse_from_rfc3339("2026-10-01T00:00:00Z")
        .map(|t| t.with_timezone(&Utc))
        .ok();
    let t = trend::compute(&reports, since, None);
    assert_eq!(t.simulated.len(), 1, "the simulated run is listed apart");
    assert_eq!(t.runbooks.len(), 1);
    let w = &t.runbooks[0];
    assert_eq!((w.runs, w.drills, w.passed, w.failed), (4, 4, 3, 1));
    // RTOs 300, 400, 500, 1000: nearest-rank p50 = 400 (rank 2), p95 = 1000 (rank 4).
    assert_eq!(
        (w.rto.p50, w.rto.p95, w.rto.max),
        (Some(400.0), Some(1000.0), Some(1000.0))
    );
    assert_eq!((w.rto_met.yes, w.rto_met.of), (3, 4));
    // RPOs 1800, 3600, 3600, 7200.
    assert_eq!((w.rpo.p50, w.rpo.max), (Some(3600.0), Some(7200.0)));
    // The AMI path against the snapshot path.
    let ami = &w.paths[0];
    let snap = &w.paths[1];
    assert_eq!((ami.name.as_str(), snap.name.as_str()), ("ami", "snapshot"));
    assert_eq!((ami.rto.p50, ami.rto.max), (Some(390.0), Some(700.0)));
    assert_eq!((ami.met.yes, ami.met.of), (3, 4));
    assert_eq!((snap.rto.p50, snap.rto.max), (Some(400.0), Some(1000.0)));
    assert_eq!((w.cleanups_verified.yes, w.cleanups_verified.of), (3, 4));
}

#[test]
fn report_reads_runs_and_the_trend_from_the_history() {
    let (dir, path) = history_of(2);
    let run = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_rebound"))
            .args(args)
            .arg("--history")
            .arg(&path)
            .current_dir(dir.path())
            .output()
            .expect("run");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let md = run(&["report", "run-1", "--format", "md"]);
    assert!(
        md.starts_with("# web-tier drill: recovered, every target met\n\n**succeeded**"),
        "{md}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&run(&["report", "--format", "json"])).expect("json");
    assert_eq!(
        json["simulated"].as_array().map(Vec::len),
        Some(2),
        "{json}"
    );
    assert_eq!(
        json["runbooks"].as_array().map(Vec::len),
        Some(0),
        "simulated runs never count"
    );
    let html = run(&["report", "--since", "90d", "--format", "html"]);
    assert!(
        html.contains("Simulated runs (rehearsals, not counted)"),
        "{html}"
    );
    let listed = run(&["history", "--format", "json"]);
    let listed: serde_json::Value = serde_json::from_str(&listed).expect("json");
    assert_eq!(listed[1]["run_id"], "run-1");
}

/// The headline says every miss and what is left, not only `succeeded`.
#[test]
fn the_headline_names_missed_targets_and_resources_left() {
    let mut r = fixed_report();
    assert_eq!(r.headline(), "succeeded");
    r.paths[0].met = Some(false);
    r.paths[0].rto_target_seconds = Some(600);
    r.paths[0].measured_seconds = Some(730.0);
    r.resources[0].teardown = Some("failed".to_string());
    r.resources[1].teardown = Some("skipped".to_string());
    let want = format!(
        "succeeded, RTO missed: {} 12m10s > 10m00s, 2 resources left: run rebound teardown {}",
        r.paths[0].name, r.run_id
    );
    assert_eq!(r.headline(), want);
    assert!(
        markdown::render(&r).contains(&want),
        "report.md leads with it"
    );
    let escaped = want.replace('>', "&gt;");
    assert!(
        html::render(&r).contains(&escaped),
        "report.html leads with it"
    );
    assert!(junit::render(&r).contains(&escaped), "junit.xml says it");
}

/// The `<title>` of a page: what a browser's tab and window list show.
fn title_of(page: &str) -> &str {
    let start = page.find("<title>").expect("a title") + "<title>".len();
    let end = page[start..].find("</title>").expect("closed") + start;
    &page[start..end]
}

/// x of every `<line>` of the timeline drawn in `colour` (its marks).
fn lines_x(page: &str, colour: &str) -> Vec<f64> {
    let timeline = page
        .find("aria-label=\"timeline of the run's steps\"")
        .expect("a timeline");
    page[timeline..]
        .split("<line ")
        .skip(1)
        .filter(|l| l.contains(&format!("stroke=\"{colour}\"")))
        .filter_map(|l| {
            let v = l.strip_prefix("x1=\"")?;
            v[..v.find('"')?].parse().ok()
        })
        .collect()
}

/// A page whose targets were met says so first; one that missed one says so in its title and
/// its heading, not `succeeded`, and draws the miss hatched as well as red (print in black and
/// white keeps the words, the symbol and the hatching).
#[test]
fn the_page_leads_with_its_verdict_and_a_miss_is_in_the_title() {
    let r = fixed_report();
    let page = html::render(&r);
    assert_eq!(
        title_of(&page),
        "recovered, every target met: web-tier drill (succeeded)"
    );
    assert!(
        page.contains(
            "<h1 class=\"verdict met\">✓ web-tier drill: recovered, every target met</h1>"
        )
    );
    assert_eq!(
        page.matches(">✓ met<").count(),
        3,
        "ami, the run's RTO, the RPO"
    );
    assert!(page.contains(">no target<"), "the snapshot path has none");
    assert!(!page.contains("hatch"), "nothing missed, nothing hatched");

    let mut missed = r.clone();
    missed.paths[0].met = Some(false);
    missed.paths[0].rto_target_seconds = Some(60);
    let page = html::render(&missed);
    let title = title_of(&page);
    assert!(
        title.starts_with("TARGETS MISSED: web-tier drill (succeeded, RTO missed: ami "),
        "{title}"
    );
    assert!(page.contains("<h1 class=\"verdict missed\">✗ web-tier drill: TARGETS MISSED</h1>"));
    assert!(
        page.contains("<td class=\"word missed\">✗ MISSED</td>"),
        "{page}"
    );
    assert!(
        page.contains("fill=\"url(#hatch0)\""),
        "the missed gauge hatched"
    );
    assert!(page.contains(": over by "), "by how much");
    assert!(markdown::render(&missed).starts_with("# web-tier drill: TARGETS MISSED\n"));

    let mut failed = r.clone();
    failed.outcome = rebound::exec::Outcome::Failed;
    failed.steps[2].outcome = rebound::exec::Outcome::Failed;
    failed.steps[2].error = Some("StatusCheckImpaired: i-0abc".to_string());
    let page = html::render(&failed);
    assert!(
        title_of(&page).starts_with("FAILED: web-tier drill"),
        "{}",
        title_of(&page)
    );
    let why = format!(
        "<li>✗ {}: StatusCheckImpaired: i-0abc</li>",
        failed.steps[2].name
    );
    assert!(page.contains(&why), "the failure said at the top");
    assert!(
        page.contains("fill=\"url(#failed)\""),
        "the failed step's bar hatched"
    );
}

/// The measured RTO is a solid line on the timeline, labelled; every target is drawn inside
/// the plot, however far it lies beyond the run, and the run is not squeezed by it.
#[test]
fn the_timeline_marks_the_rto_and_its_axis_fits_the_run_and_every_target() {
    let r = fixed_report();
    let measured = r.rto.measured_seconds.expect("measured");
    let page = html::render(&r);
    let label = format!("measured RTO {}", rebound::duration::human(measured));
    assert!(page.contains(&label), "{label}");
    let rto = lines_x(&page, "#1b1f24");
    assert_eq!(rto.len(), 1, "one RTO mark");
    let targets = lines_x(&page, "#cf222e");
    assert_eq!(targets.len(), 2, "ami's target and the run's");
    assert!(
        targets.iter().all(|x| *x > rto[0] && *x <= 1000.0),
        "{targets:?} {rto:?}"
    );

    // A target 16 times the run: the run keeps most of the plot, the target is still on it.
    let mut far = r.clone();
    let target = (measured * 16.0) as u64;
    far.rto.target_seconds = Some(target);
    let page = html::render(&far);
    let rto = lines_x(&page, "#1b1f24");
    let targets = lines_x(&page, "#cf222e");
    assert!(
        rto[0] > 150.0 + 0.6 * 690.0,
        "the run fills the plot: RTO at {}",
        rto[0]
    );
    assert!(targets.iter().all(|x| *x <= 1000.0), "{targets:?}");
    assert!(page.contains("the axis is broken after"));
    let label = format!("rto {}", rebound::duration::human(target as f64));
    assert!(page.contains(&format!(">{label}</text>")), "{label}");
}
