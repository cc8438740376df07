#!/usr/bin/env python3
"""Compares rebound with the peer a user would pick instead (cli_restore.sh, the aws CLI) on the
same restore, against moto held to EC2's timing by held_moto.py. For each tier count: a fresh
server, seeded by tests/peer/seed_account.py; the CLI script, timed; another fresh server; rebound
on an equivalent runbook, timed, with its report. Prints one table and writes results.json.
Usage: run.py --rebound BIN [--tiers 1,4,8] [--hold 5] [--volume-hold 2] [--attach-hold 1]
              [--out DIR]      (run with target/moto-venv/bin/python; aws must be in that venv)
"""
import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
VENV_BIN = Path(sys.executable).parent
ENV = dict(
    os.environ,
    AWS_ACCESS_KEY_ID="testing",
    AWS_SECRET_ACCESS_KEY="testing",
    AWS_SESSION_TOKEN="testing",
    AWS_DEFAULT_REGION="us-east-1",
    AWS_EC2_METADATA_DISABLED="true",
    AWS_CONFIG_FILE="/dev/null",
    AWS_SHARED_CREDENTIALS_FILE="/dev/null",
    NO_COLOR="1",
    PATH=f"{VENV_BIN}:{os.environ['PATH']}",
)


class HeldMoto:
    """held_moto.py on a free loopback port, seeded; stopped on exit."""

    def __init__(self, holds, log):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        args = [sys.executable, HERE / "held_moto.py", str(port), "--hold", str(holds["hold"]),
                "--volume-hold", str(holds["volume_hold"]), "--attach-hold", str(holds["attach_hold"])]
        self.proc = subprocess.Popen(args, stdout=log, stderr=log, env=ENV)
        deadline = time.time() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.time() > deadline or self.proc.poll() is not None:
                    raise SystemExit(f"held_moto did not start on {port}")
                time.sleep(0.1)
        out = subprocess.run([sys.executable, ROOT / "tests/peer/seed_account.py", self.url],
                             env=ENV, check=True, capture_output=True, text=True).stdout
        self.seeded = json.loads(out)
        self.bench("reset", method="POST")  # count only what the restore does

    def bench(self, what, method="GET"):
        req = urllib.request.Request(f"{self.url}/_bench/{what}", method=method)
        with urllib.request.urlopen(req) as r:
            return json.load(r)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.proc.terminate()
        self.proc.wait()


def runbook(tiers, subnet):
    lines = ['runbook "peer-tiers" {', '  region = "us-east-1"',
             '  step image = find_image { owners = ["self"], tags = { App = "web", Safe = "True" } }',
             '  step data = find_snapshot { tags = { Volume = "web-data" } }']
    for t in range(1, tiers + 1):
        lines += [
            f'  step host{t} = launch {{ image = image.id, subnet = "{subnet}", instance_types = ["t3.micro"] }}',
            f'  step disk{t} = create_volume {{ snapshot = data.id, zone = host{t}.zone, type = "gp3" }}',
            f'  step mount{t} = attach {{ volume = disk{t}.id, instance = host{t}.instance, device = "/dev/sdf" }}',
        ]
    return "\n".join(lines + ["}", ""])


def epoch(rfc3339):
    return datetime.fromisoformat(rfc3339.replace("Z", "+00:00")).timestamp()


def run_cli(tiers, holds, work):
    with open(work / "moto-cli.log", "w") as log, HeldMoto(holds, log) as moto:
        t0 = time.monotonic()
        with open(work / "cli.out", "w") as out:
            subprocess.run([HERE / "cli_restore.sh", moto.url, moto.seeded["subnet"], str(tiers)],
                           env=ENV, check=True, stdout=out, stderr=subprocess.STDOUT)
        wall = time.monotonic() - t0
        calls = moto.bench("calls")
    (work / "moto-calls.json").write_text(json.dumps(calls))
    return {"wall": wall, "moto_calls": calls["counts"]}


def run_rebound(tiers, holds, work, binary):
    latency = {  # rebound's poller first looks at the 10th percentile, then every second
        "pending_to_running": {"median": holds["hold"], "p99": holds["hold"] + 1},
        "create_volume": {"median": holds["volume_hold"], "p99": holds["volume_hold"] + 1},
        "attach_volume": {"median": holds["attach_hold"], "p99": holds["attach_hold"] + 1},
    }
    (work / "latency.json").write_text(json.dumps(latency))
    with open(work / "moto-rebound.log", "w") as log, HeldMoto(holds, log) as moto:
        (work / "tiers.runbook").write_text(runbook(tiers, moto.seeded["subnet"]))
        t0 = time.monotonic()
        with open(work / "rebound.out", "w") as out:
            subprocess.run([binary, "run", "tiers.runbook", "--backend", "aws",
                            "--endpoint-url", moto.url, "--region", "us-east-1",
                            "--report-dir", "report", "--latency", "latency.json",
                            "--state-dir", "state"],
                           cwd=work, env=dict(ENV, REBOUND_HISTORY=str(work / "history.sqlite")),
                           check=True, stdout=out, stderr=subprocess.STDOUT)
        wall = time.monotonic() - t0
        calls, ready = moto.bench("calls"), moto.bench("state")
    (work / "moto-calls.json").write_text(json.dumps(calls))
    (work / "moto-ready.json").write_text(json.dumps(ready))
    report = json.loads((work / "report/report.json").read_text())
    # How long after the server made each thing ready did rebound's step finish?
    steps, lags = {s["name"]: s for s in report["steps"]}, {"launch": [], "create_volume": [], "attach": []}
    for t in range(1, tiers + 1):
        host, disk = steps[f"host{t}"], steps[f"disk{t}"]
        keys = {"launch": host["outputs"]["instance"], "create_volume": disk["outputs"]["id"],
                "attach": f'{disk["outputs"]["id"]}@{host["outputs"]["instance"]}'}
        for (action, key), step in zip(keys.items(), (host, disk, steps[f"mount{t}"])):
            lags[action].append(epoch(step["finished_at"]) - ready[key]["ready"])
    return {"wall": wall, "rto": report["rto"]["measured_seconds"], "report_calls": report["api_calls"],
            "moto_calls": calls["counts"], "lags": lags,
            "launch_seconds": [steps[f"host{t}"]["duration_seconds"] for t in range(1, tiers + 1)]}


def bound(tiers, holds):
    """The least time any tool needs: tiers are independent, so all run at once, each waiting out
    its three holds in turn (loopback API calls take milliseconds). Launches are paced by EC2's
    RunInstances rate limit (a bucket of 5, refilled at 2 a second): moto does not enforce it,
    but EC2 does and rebound keeps to it, so the last launch can start no sooner than this."""
    paced = max(0, tiers - 5) / 2
    return paced + holds["hold"] + holds["volume_hold"] + holds["attach_hold"]


def compare(n, holds, out, binary):
    """One tier count: the CLI script, then rebound, each on a fresh held server."""
    print(f"{n} tiers: aws CLI...", file=sys.stderr, flush=True)
    (out / f"cli-{n}").mkdir(parents=True, exist_ok=True)
    cli = run_cli(n, holds, out / f"cli-{n}")
    print(f"{n} tiers: rebound...", file=sys.stderr, flush=True)
    (out / f"rebound-{n}").mkdir(parents=True, exist_ok=True)
    rb = run_rebound(n, holds, out / f"rebound-{n}", binary)
    return {"tiers": n, "holds": holds, "cli": cli, "rebound": rb, "bound": bound(n, holds)}


def table(results):
    """The comparison as a fixed-width table, one row per tier count."""
    head = ("tiers", "CLI s", "rebound s", "speedup", "RTO s", "bound s", "RTO/bound",
            "CLI calls/i", "rb calls/i (report)", "rb calls/i (moto)", "launch s", "max lag s")
    rows = [("{:>5} {:>7} {:>9} {:>7} {:>6} {:>7} {:>9} {:>11} {:>19} {:>17} {:>11} {:>9}").format(*head)]
    for r in results:
        n, cli, rb = r["tiers"], r["cli"], r["rebound"]
        launch = rb["launch_seconds"]
        lag = max(max(v) for v in rb["lags"].values())
        rows.append(f"{n:>5} {cli['wall']:>7.1f} {rb['wall']:>9.1f} {cli['wall'] / rb['wall']:>6.1f}x "
                    f"{rb['rto']:>6.1f} {r['bound']:>7.1f} {rb['rto'] / r['bound']:>9.2f} "
                    f"{sum(cli['moto_calls'].values()) / n:>11.1f} "
                    f"{sum(rb['report_calls'].values()) / n:>19.1f} {sum(rb['moto_calls'].values()) / n:>17.1f} "
                    f"{min(launch):>5.1f}-{max(launch):<5.1f} {lag:>9.2f}")
    return "\n".join(rows)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rebound", required=True, help="the rebound binary")
    p.add_argument("--tiers", default="1,4,8")
    p.add_argument("--hold", type=float, default=5.0, help="seconds an instance stays pending")
    p.add_argument("--volume-hold", type=float, default=2.0, help="seconds a volume is creating")
    p.add_argument("--attach-hold", type=float, default=1.0, help="seconds an attachment is attaching")
    p.add_argument("--out", help="keep every run's files here (default: a temporary directory)")
    a = p.parse_args()
    holds = {"hold": a.hold, "volume_hold": a.volume_hold, "attach_hold": a.attach_hold}
    out = Path(a.out).resolve() if a.out else Path(tempfile.mkdtemp(prefix="bench-peer-"))
    binary = str(Path(a.rebound).resolve())
    results = [compare(int(n), holds, out, binary) for n in a.tiers.split(",")]
    (out / "results.json").write_text(json.dumps(results, indent=2))
    print(table(results))
    print(f"\nholds: instance {a.hold}s, volume {a.volume_hold}s, attach {a.attach_hold}s; "
          f"files and results.json in {out}")


if __name__ == "__main__":
    main()
