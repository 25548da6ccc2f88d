"""Helpers to run the real supervisor + children with the TEST-ONLY stand-in binding."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
SUPPORT = HERE / "support"
REPO = HERE.parent.parent


def child_env():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), str(SUPPORT), env.get("PYTHONPATH", "")])
    return env


class StandinRun:
    """One harness run (tests/pipeline/support/run_standin.py) in a temp dir."""

    def __init__(self, tmp_path: Path, **spec):
        self.tmp = tmp_path
        self.alerts_path = tmp_path / f"alerts-{len(list(tmp_path.glob('alerts-*')))}.jsonl"
        spec.setdefault("alerts_file", str(self.alerts_path))
        self.spec = spec
        self.spec_path = tmp_path / f"spec-{os.getpid()}-{id(self)}.json"
        self.spec_path.write_text(json.dumps(spec))
        self.process = None

    def start(self):
        self.process = subprocess.Popen(
            [sys.executable, str(SUPPORT / "run_standin.py"), str(self.spec_path)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=child_env(),
        )
        return self

    def wait(self, timeout=90):
        out, err = self.process.communicate(timeout=timeout)
        self.stderr = err
        last = out.strip().splitlines()[-1] if out.strip() else "{}"
        self.metrics = json.loads(last)
        return self.process.returncode

    def run(self, timeout=90):
        self.start()
        return self.wait(timeout)

    def alerts(self):
        if not self.alerts_path.exists():
            return []
        return [json.loads(line) for line in self.alerts_path.read_text().splitlines()]


def canonical(alerts):
    return sorted(json.dumps(alert, sort_keys=True) for alert in alerts)


def expected_standin_alerts(lines, capacity):
    """What the stand-in buckets must produce, computed here from the input independently
    of the pipeline: per ip, n values in file order, cut every `capacity`, rest partial."""
    import re

    per_ip = defaultdict(list)
    alerts = []
    for line in lines:
        match = re.search(r"ip=(\S+) n=(\d+)", line)
        if not match:
            continue
        bucket = per_ip[match.group(1)]
        bucket.append(int(match.group(2)))
        if len(bucket) == capacity:
            alerts.append({"ip": match.group(1), "ns": list(bucket), "scenario": "test/standin"})
            bucket.clear()
    for ip, ns in per_ip.items():
        if ns:
            alerts.append({"ip": ip, "ns": ns, "partial": True, "scenario": "test/standin"})
    return alerts


def write_log(path: Path, count: int, seed: int = 1, ips: int = 20, garbage_every: int = 7):
    import random

    rng = random.Random(seed)
    lines = []
    for n in range(count):
        if garbage_every and n % garbage_every == 0:
            lines.append(f"garbage line {n}")
        else:
            lines.append(f"line ip=10.0.0.{rng.randrange(ips)} n={n}")
    path.write_text("\n".join(lines) + "\n")
    return lines


@pytest.fixture
def standin(tmp_path):
    """make(**spec) -> StandinRun; every run still alive at the end is killed."""
    runs = []

    def make(**spec):
        run = StandinRun(tmp_path, **spec)
        runs.append(run)
        return run

    yield make
    for run in runs:
        if run.process and run.process.poll() is None:
            run.process.kill()
            run.process.wait()
