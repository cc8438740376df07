//! The planner: edges from references and `after`, levels, the expected critical path on a
//! graph whose answer is known, and the dot and mermaid views.

use crate::common;

use rebound::cloud::latency::{Dist, LatencyModel};
use rebound::plan::{Plan, dot, json, mermaid, text};
use rebound::runbook::{self, Runbook, Source};

/// An example runbook, named by its path relative to the repository so snapshots do not
/// depend on where the repository is.
fn example(name: &str) -> Runbook {
    let rel = format!("runbooks/{name}.runbook");
    let bytes = std::fs::read(common::root().join(&rel)).expect("read example");
    let source = runbook::from_bytes(rel, bytes).expect("utf-8");
    runbook::check_source(&source, &[]).expect("checks")
}

fn load(text: &str) -> Runbook {
    let source = Source::new("t.runbook", text);
    match runbook::check_source(&source, &[]) {
        Ok(rb) => rb,
        Err(e) => panic!("{}", e.render(runbook::diagnostic::Style::Plain)),
    }
}

fn names(rb: &Runbook, ids: &[usize]) -> Vec<String> {
    ids.iter().map(|&i| rb.steps[i].name.clone()).collect()
}

fn deps(rb: &Runbook, step: &str) -> Vec<String> {
    let id = rb.step_named(step).expect("step");
    names(rb, &rb.steps[id].deps)
}

const WAITS: &str = r#"runbook "w" {
  step a = wait { duration = 10m }
  step b = wait { duration = 10m }
  step c = wait { duration = 3m, after = [a] }
  step join = wait { duration = 1m, after = [b, c] }
}
"#;

#[test]
fn edges_come_from_references_and_after() {
    let rb = load(
        r#"runbook "e" {
  step img = find_image { tags = { App = "web" } }
  step snap = find_snapshot { tags = { V = "d" } }
  step host = launch { image = img.id, subnet = "subnet-1", instance_types = ["m5.large"] }
  step disk = create_volume { snapshot = snap.id, zone = host.zone }
  step ok = verify { instances = [host.instance], checks = ["running"], after = [disk] }
}
"#,
    );
    assert_eq!(deps(&rb, "img"), Vec::<String>::new());
    assert_eq!(deps(&rb, "host"), ["img"]);
    assert_eq!(deps(&rb, "disk"), ["snap", "host"]);
    assert_eq!(deps(&rb, "ok"), ["host", "disk"]);
    let plan = Plan::new(&rb, &LatencyModel::default());
    let levels: Vec<Vec<String>> = plan.levels().iter().map(|l| names(&rb, l)).collect();
    assert_eq!(
        levels,
        [vec!["img", "snap"], vec!["host"], vec!["disk"], vec!["ok"]]
    );
    // Every step comes after its dependencies in the topological order.
    for (pos, &id) in plan.order.iter().enumerate() {
        for d in &rb.steps[id].deps {
            assert!(plan.order[..pos].contains(d));
        }
    }
}

#[test]
fn critical_path_is_the_longest_chain() {
    let rb = load(WAITS);
    let plan = Plan::new(&rb, &LatencyModel::default());
    // a (10m) -> c (3m) -> join (1m) = 14m; b (10m) -> join = 11m.
    assert_eq!(names(&rb, &plan.critical.steps), ["a", "c", "join"]);
    assert!(
        (plan.critical.rto - 840.0).abs() < 1e-9,
        "{}",
        plan.critical.rto
    );
}

#[test]
fn critical_path_uses_the_latency_model() {
    let rb = load(
        r#"runbook "m" {
  step host = launch { image = "ami-1", subnet = "subnet-1", instance_types = ["m5.large"] }
  step vol = create_volume { snapshot = "snap-1", zone = "us-east-1a" }
  step att = attach { volume = vol.id, instance = host.instance, device = "/dev/sdf" }
}
"#,
    );
    let model = LatencyModel {
        run_instances: Dist::fixed(1.0),
        pending_to_running: Dist::fixed(2.0),
        create_volume: Dist::fixed(10.0),
        attach_volume: Dist::fixed(4.0),
        ..LatencyModel::default()
    };
    let plan = Plan::new(&rb, &model);
    assert_eq!(names(&rb, &plan.critical.steps), ["vol", "att"]);
    assert!((plan.critical.rto - 14.0).abs() < 1e-9);
}

#[test]
fn strategy_first_takes_the_path_expected_to_win() {
    let rb = load(
        r#"runbook "f" {
  strategy = "first"
  path slow {
    step s1 = wait { duration = 20m }
  }
  path fast {
    step f1 = wait { duration = 2m }
    step f2 = wait { duration = 3m, after = [f1] }
  }
}
"#,
    );
    let plan = Plan::new(&rb, &LatencyModel::default());
    assert_eq!(names(&rb, &plan.critical.steps), ["f1", "f2"]);
    assert!((plan.critical.rto - 300.0).abs() < 1e-9);
    assert_eq!(plan.critical.path_finish, [1200.0, 300.0]);
}

#[test]
fn cycles_are_reported_with_every_step() {
    let source = Source::new(
        "c.runbook",
        "runbook \"c\" {\n  step a = wait { duration = 1m, after = [c] }\n  step b = wait { duration = 1m, after = [a] }\n  step c = wait { duration = 1m, after = [b] }\n  step d = wait { duration = 1m }\n}\n",
    );
    let Err(runbook::Error::Invalid { diagnostics, .. }) = runbook::check_source(&source, &[])
    else {
        panic!("a cycle must not check");
    };
    assert_eq!(diagnostics.len(), 1);
    assert_eq!(diagnostics[0].message, "dependency cycle: a -> c -> b -> a");
    assert_eq!(diagnostics[0].related.len(), 3);
}

#[test]
fn views_of_the_web_tier_example() {
    let rb = example("web-tier");
    let plan = Plan::new(&rb, &LatencyModel::default());
    insta::assert_snapshot!("web_tier_dot", dot::render(&plan));
    insta::assert_snapshot!("web_tier_mermaid", mermaid::render(&plan));
    insta::assert_snapshot!("web_tier_text", text::render(&plan));
    let j: serde_json::Value = serde_json::from_str(&json::render(&plan)).expect("json");
    assert_eq!(j["schema"], "rebound.plan/v1");
    assert_eq!(j["steps"].as_array().map(Vec::len), Some(9));
    assert_eq!(j["critical_path"]["steps"][0], "base");
}

#[test]
fn plan_lists_every_exec_command() {
    let rb = example("region-recovery");
    let plan = Plan::new(&rb, &LatencyModel::default());
    let out = text::render(&plan);
    assert!(out.contains(r#"cutover    ["./scripts/dns-cutover.sh", "--zone", "shop.example.com", "--to", "us-west-2"]"#), "{out}");
}

#[test]
fn set_values_override_defaults_and_are_typed_by_use() {
    let path = common::root().join("runbooks/web-tier.runbook");
    let sets = vec![
        ("tier".to_string(), "123".to_string()),
        ("subnet".to_string(), "subnet-0abc".to_string()),
    ];
    let rb = runbook::load(&path, &sets).expect("checks");
    let web = &rb.steps[rb.step_named("web").expect("web")];
    let tags = web
        .field("tags")
        .expect("tags")
        .display(&rb.steps)
        .to_string();
    assert_eq!(tags, r#"{ Tier = "123" }"#);
    let subnet = web
        .field("subnet")
        .expect("subnet")
        .display(&rb.steps)
        .to_string();
    assert_eq!(subnet, r#""subnet-0abc""#);
}
