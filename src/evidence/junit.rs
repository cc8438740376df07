//! `junit.xml`: a run as a JUnit report, so CI systems (GitLab, Jenkins, GitHub Actions
//! summaries) show a drill natively: one test case per step (failed steps fail, skipped and
//! cancelled ones are skipped) and one per target (each path's RTO, the run's RTO, the RPO),
//! failing when the target was missed and skipped when there was none to check.

use std::time::Duration;

use quick_junit::{NonSuccessKind, TestCase, TestCaseStatus, TestSuite};

use super::report::Report;
use crate::duration::human;
use crate::exec::Outcome;

pub fn render(r: &Report) -> String {
    let mut steps = TestSuite::new(format!("{} steps", r.runbook.name));
    for s in &r.steps {
        let status = match s.outcome {
            Outcome::Succeeded => TestCaseStatus::success(),
            Outcome::Failed => {
                let mut st = TestCaseStatus::non_success(NonSuccessKind::Failure);
                st.set_message(s.error.clone().unwrap_or_else(|| "failed".to_string()));
                st
            }
            other => {
                let mut st = TestCaseStatus::skipped();
                st.set_message(s.error.clone().unwrap_or_else(|| other.name().to_string()));
                st
            }
        };
        let mut case = TestCase::new(s.name.clone(), status);
        case.set_classname(format!(
            "{}.{}",
            r.runbook.name,
            s.path.as_deref().unwrap_or("shared")
        ));
        if let Some(d) = s.duration_seconds {
            case.set_time(Duration::from_secs_f64(d.max(0.0)));
        }
        steps.add_test_case(case);
    }

    let mut targets = TestSuite::new(format!("{} targets", r.runbook.name));
    for p in &r.paths {
        targets.add_test_case(target(
            r,
            &format!("rto {}", p.name),
            p.rto_target_seconds,
            p.measured_seconds,
            p.met,
        ));
    }
    targets.add_test_case(target(
        r,
        "rto",
        r.rto.target_seconds,
        r.rto.measured_seconds,
        r.rto.met,
    ));
    targets.add_test_case(target(
        r,
        "rpo",
        r.rpo.target_seconds,
        r.rpo.measured_seconds,
        r.rpo.met,
    ));

    // What the run came to, missed targets and resources left included, for a CI page that
    // shows only the suites' properties.
    targets.add_property(quick_junit::Property::new("headline", r.headline()));
    let mut report = quick_junit::Report::new(format!("rebound {}", r.run_id));
    report.add_test_suite(steps);
    report.add_test_suite(targets);
    report
        .to_string()
        .unwrap_or_else(|e| format!("<!-- junit serialization failed: {e} -->\n"))
}

/// One target as a test case: passed when met, failed when missed, skipped otherwise.
fn target(
    r: &Report,
    name: &str,
    target: Option<u64>,
    measured: Option<f64>,
    met: Option<bool>,
) -> TestCase {
    let said = |t: Option<u64>, m: Option<f64>| {
        format!(
            "target {}, measured {}",
            t.map_or("-".to_string(), |t| human(t as f64)),
            m.map_or("-".to_string(), human)
        )
    };
    let status = match met {
        Some(true) => TestCaseStatus::success(),
        Some(false) => {
            let mut st = TestCaseStatus::non_success(NonSuccessKind::Failure);
            st.set_message(format!("missed: {}", said(target, measured)));
            st
        }
        None => {
            let mut st = TestCaseStatus::skipped();
            st.set_message(format!("nothing to check: {}", said(target, measured)));
            st
        }
    };
    let mut case = TestCase::new(name.to_string(), status);
    case.set_classname(format!("{}.targets", r.runbook.name));
    if let Some(m) = measured {
        case.set_time(Duration::from_secs_f64(m.max(0.0)));
    }
    case
}
