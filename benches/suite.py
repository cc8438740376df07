#!/usr/bin/env python3
"""The benchmark suite (issue 8): the four figures README's Performance table shows, measured
in one run, on one binary, on this machine.

  overhead  measured RTO / rto.bound_seconds of `rebound run` on the simulator's default
            latency model (virtual clock): the example runbooks (seed 1), and the distribution
            over --seeds seeds (20) of a generated 200-tier runbook and of the web-tier drill
  drill     the web-tier drill's API calls on the simulator's default model, over the same
            seeds: Describe calls in all, and DescribeInstanceStatus per instance per wait stage
            (running, status_ok)
  peer      rebound against the aws-CLI script a user would write instead, on the same held moto
            server (benches/peer), at each --tiers count
  economy   API calls per restored instance in the largest peer run and in a run of rebound
            alone at --economy-tiers (16), from rebound's report and from moto's request log;
            mutating calls per create or attach action
  scale     `rebound run` of 1,000 tiers (6,000 steps) on the virtual clock: wall time and peak
            RSS (/usr/bin/time); `rebound check` of a generated 10,000-line runbook (median CPU
            time of 11 whole processes)

Writes OUT/results.json and OUT/summary.md (the README table, with the machine and the command)
and prints the summary. Run through scripts/bench, which builds the binary and the moto venv.
Usage: suite.py --rebound BIN [--tiers 4,8] [--economy-tiers 16] [--out target/bench]
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE / "peer"))
import run as peer  # noqa: E402  (benches/peer/run.py)

EXAMPLES = [("web-tier", []), ("backup-restore", []), ("region-recovery", ["--approve"])]
MUTATING = {"RunInstances", "CreateVolume", "AttachVolume", "CreateTags", "StartRestoreJob",
            "CreateImage"}


def generated(tiers, out):
    """A runbook of `tiers` six-step tiers (scripts/gen-tiers.py), written under `out`."""
    path = out / f"tiers-{tiers}.runbook"
    text = subprocess.run([sys.executable, ROOT / "scripts/gen-tiers.py", str(tiers)],
                          check=True, capture_output=True, text=True).stdout
    path.write_text(text)
    return path


def timed(argv, env):
    """Runs a whole process under /usr/bin/time: (wall seconds, peak RSS in MB)."""
    r = subprocess.run(["/usr/bin/time", "-f", "%e %M", *map(str, argv)], env=env,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, argv))} failed:\n{r.stderr}")
    wall, rss = r.stderr.strip().splitlines()[-1].split()
    return float(wall), int(rss) / 1024


def sim_run(binary, name, runbook, extra, out, seed=1):
    """One `rebound run` on the simulator: its report's RTO against the bound, and its cost."""
    report_dir = out / f"report-{name}-{seed}"
    wall, rss = timed([binary, "run", runbook, "--seed", str(seed), "-q", "--report-dir", report_dir,
                       "--state-dir", out / "state", *extra],
                      dict(os.environ, REBOUND_HISTORY=str(out / "history.sqlite")))
    r = json.loads((report_dir / "report.json").read_text())
    measured, bound = r["rto"]["measured_seconds"], r["rto"]["bound_seconds"]
    return {"name": name, "seed": seed, "steps": len(r["steps"]), "wall": wall, "rss_mb": rss,
            "rto": measured, "bound": bound, "ratio": measured / bound, "calls": r["api_calls"]}


def quantile(xs, q):
    """The q-quantile of xs, by the nearest-rank method (the 95th of 20 is the 19th)."""
    xs = sorted(xs)
    return xs[max(0, min(len(xs) - 1, -(-int(q * 100) * len(xs) // 100) - 1))]


def spread(runs):
    """RTO/bound over seeds: median, 95th percentile, worst (and its seed)."""
    ratios = [r["ratio"] for r in runs]
    worst = max(runs, key=lambda r: r["ratio"])
    return {"n": len(runs), "p50": statistics.median(ratios), "p95": quantile(ratios, 0.95),
            "max": worst["ratio"], "max_seed": worst["seed"], "ratios": ratios}


def drill_economy(runs, instances=3):
    """The web-tier drill's Describe calls over seeds (3 instances, 2 instance waits each)."""
    describes = [sum(v for k, v in r["calls"].items() if k.startswith(("Describe", "List"))) for r in runs]
    status = [r["calls"].get("DescribeInstanceStatus", 0) / (instances * 2) for r in runs]
    return {"describe_median": statistics.median(describes), "describe_max": max(describes),
            "describe_min": min(describes), "status_per_stage_median": statistics.median(status),
            "status_per_stage_max": max(status)}


def check_time(binary, runbook, runs=11):
    """Median time of `rebound check` as a whole process, start-up included: the child's own
    user + system CPU time (the check is CPU-bound, and Python's fork is not counted)."""
    times = []
    for _ in range(runs):
        pid = os.posix_spawn(binary, [binary, "check", str(runbook)], os.environ,
                             file_actions=[(os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0)])
        _, status, usage = os.wait4(pid, 0)
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"rebound check {runbook} failed")
        times.append(usage.ru_utime + usage.ru_stime)
    return statistics.median(times)


def economy(n, rb, cli=None):
    """Calls per restored instance in one run of rebound on held moto, by kind."""
    report, moto = rb["report_calls"], rb["moto_calls"]
    describes = sum(v for k, v in report.items() if k.startswith("Describe") or k.startswith("List"))
    mutating = sum(v for k, v in report.items() if k in MUTATING)
    actions = 3 * n  # each tier: one launch, one create_volume, one attach
    return {"tiers": n, "report": report, "moto": moto,
            "describe_per_instance": describes / n,
            "mutating_per_action": mutating / actions,
            "report_per_instance": sum(report.values()) / n,
            "moto_per_instance": sum(moto.values()) / n,
            "cli_per_instance": cli and sum(cli["moto_calls"].values()) / n}


def machine():
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")),
               platform.processor())
    mem = next(int(l.split()[1]) for l in open("/proc/meminfo") if l.startswith("MemTotal"))
    return f"{os.cpu_count()} x {cpu}, {mem / 1024 / 1024:.0f} GiB, {platform.system()} {platform.release()}"


def summary(res):
    o, s, p = res["overhead"], res["scale"], res["peer"]
    ratios = ", ".join(f"{r['name']} {r['ratio']:.3f}" for r in o)
    rows = []
    for name, d in res["seeds"].items():
        goal = "p95 <= 1.01, every seed <= 1.02" if name == "200 tiers" else "<= 1.01"
        rows.append((f"overhead: RTO / bound, {name}, {d['n']} seeds", goal,
                     f"median {d['p50']:.4f}, p95 {d['p95']:.4f}, worst {d['max']:.4f} (seed {d['max_seed']})"))
    rows.append(("overhead: the other examples (seed 1)", "<= 1.02", ratios))
    e = res["drill"]
    rows.append((f"economy: web-tier drill on the sim's default model, {res['seeds']['web-tier drill']['n']} seeds",
                 "<= 3 Describe per instance per wait stage; about 30 in all",
                 f"DescribeInstanceStatus per instance per wait stage: median {e['status_per_stage_median']:.1f}, "
                 f"worst {e['status_per_stage_max']:.1f}; Describe calls in all: median {e['describe_median']:.0f} "
                 f"({e['describe_min']}-{e['describe_max']})"))
    for r in p:
        n, cli, rb = r["tiers"], r["cli"], r["rebound"]
        rows.append((f"peer: {n} tiers on held moto, aws-CLI script vs rebound", ">= 15x at 4 tiers; RTO within 1 s of bound",
                     f"{cli['wall']:.1f} s vs {rb['wall']:.1f} s = {cli['wall'] / rb['wall']:.1f}x; "
                     f"RTO {rb['rto']:.1f} s, bound {r['bound']:.1f} s (+{rb['rto'] - r['bound']:.1f} s)"))
    for e in res["economy"]:
        cli = f"; CLI script {e['cli_per_instance']:.1f}" if e["cli_per_instance"] else ""
        rows.append((f"economy: calls per instance, {e['tiers']} tiers on held moto", "1 mutating call per create/attach; <= 1 Describe per instance",
                     f"{e['mutating_per_action']:.2f} mutating per action; {e['describe_per_instance']:.2f} Describe per instance; "
                     f"{e['report_per_instance']:.1f} in all (report), {e['moto_per_instance']:.1f} (moto's log, with STS){cli}"))
    big = s["run"]
    rows.append((f"scale: run {big['steps']:,} steps on the virtual clock", "< 1 s, < 100 MB",
                 f"{big['wall']:.2f} s, {big['rss_mb']:.0f} MB peak RSS"))
    rows.append((f"scale: `check` of {s['check_lines']:,} lines (whole process, CPU time)", "< 50 ms",
                 f"{s['check_seconds'] * 1000:.0f} ms"))
    lines = ["| figure | goal | measured |", "|---|---|---|"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    lines += ["", f"Measured {res['date']} on {res['machine']}, rebound {res['commit']}, "
              f"`scripts/bench` ({res['suite_seconds']:.0f} s). Holds on moto: instance {p[0]['holds']['hold']:g} s, "
              f"volume {p[0]['holds']['volume_hold']:g} s, attach {p[0]['holds']['attach_hold']:g} s."]
    for name, d in res["seeds"].items():
        lines += ["", f"RTO/bound of {name}, seeds 1-{d['n']}: " + ", ".join(f"{x:.4f}" for x in d["ratios"])]
    lines += ["", "Sim runs (seed 1):", "", "| runbook | steps | wall s | peak RSS MB | RTO s | bound s | RTO/bound |",
              "|---|---|---|---|---|---|---|"]
    lines += [f"| {r['name']} | {r['steps']} | {r['wall']:.2f} | {r['rss_mb']:.0f} | {r['rto']:.1f} | {r['bound']:.1f} | {r['ratio']:.3f} |"
              for r in o + [big]]
    lines += ["", "Peer runs:", "", "```", peer.table(p), "```"]
    for e in res["economy"]:
        lines += ["", f"API calls of rebound's {e['tiers']}-tier run, from its report: "
                  + ", ".join(f"{k} {v}" for k, v in sorted(e["report"].items()))]
    return "\n".join(lines) + "\n"


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rebound", required=True)
    p.add_argument("--tiers", default="4,8")
    p.add_argument("--economy-tiers", type=int, default=16)
    p.add_argument("--seeds", type=int, default=20)
    p.add_argument("--out", default="target/bench")
    a = p.parse_args()
    t0 = time.monotonic()
    out = Path(a.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    binary = str(Path(a.rebound).resolve())

    print("overhead: examples and 200 tiers on the sim...", file=sys.stderr, flush=True)
    overhead = [sim_run(binary, n, ROOT / f"runbooks/{n}.runbook", extra, out) for n, extra in EXAMPLES]
    tiers200 = generated(200, out)
    overhead.append(sim_run(binary, "200 tiers", tiers200, [], out))
    print(f"overhead: 200 tiers and the web-tier drill, {a.seeds} seeds...", file=sys.stderr, flush=True)
    seeds = range(1, a.seeds + 1)
    many = [sim_run(binary, "200 tiers", tiers200, [], out, seed) for seed in seeds]
    drills = [sim_run(binary, "web-tier drill", ROOT / "runbooks/web-tier.runbook", ["--drill"], out, seed)
              for seed in seeds]
    spreads = {"200 tiers": spread(many), "web-tier drill": spread(drills)}

    print("scale: 1,000 tiers, check of 10,000 lines...", file=sys.stderr, flush=True)
    run = sim_run(binary, "1,000 tiers", generated(1000, out), [], out)
    big = generated(334, out)
    scale = {"run": run, "check_lines": len(big.read_text().splitlines()),
             "check_seconds": check_time(binary, big)}

    print(f"peer: tiers {a.tiers} on held moto...", file=sys.stderr, flush=True)
    holds = {"hold": 5.0, "volume_hold": 2.0, "attach_hold": 1.0}
    results = [peer.compare(int(n), holds, out / "peer", binary) for n in a.tiers.split(",")]

    # Economy on a bigger restore too, rebound alone (the CLI would take 10 minutes): the
    # two find calls of a run weigh less, and the pollers' batching more.
    largest = max(results, key=lambda r: r["tiers"])
    print(f"economy: {a.economy_tiers} tiers, rebound alone...", file=sys.stderr, flush=True)
    work = out / "peer" / f"rebound-{a.economy_tiers}"
    work.mkdir(parents=True, exist_ok=True)
    alone = peer.run_rebound(a.economy_tiers, holds, work, binary)
    economies = [economy(largest["tiers"], largest["rebound"], largest["cli"]),
                 economy(a.economy_tiers, alone)]

    commit = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=ROOT,
                            capture_output=True, text=True).stdout.strip()
    res = {"date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "machine": machine(),
           "commit": commit, "overhead": overhead, "scale": scale, "peer": results,
           "economy": economies, "seeds": spreads, "drill": drill_economy(drills),
           "suite_seconds": time.monotonic() - t0}
    (out / "results.json").write_text(json.dumps(res, indent=2))
    text = summary(res)
    (out / "summary.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
