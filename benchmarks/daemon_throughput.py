"""Replay throughput of the daemon vs the single-process engine (not a test).

    python benchmarks/daemon_throughput.py [--lines 50000] [--kind sshd] [--combos 1x1,2x1,2x2]

Generates a corpus with ../shared/tools/gen_corpus.py, installs the project's
own hub items in a temporary config, then times:
* the single-process engine (`replay.Engine`) in this process;
* `crowdsec-mp -dsn ... -dump-data` for each workers x shards combo (wall time
  including process start-up, which is reported separately from a 1-line run).
It also checks every run produced the same alerts as the single-process engine.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests" / "integration"))

from daemon_env import daemon_env, make_config  # noqa: E402


def single_process(config, log_path, log_type):
    from crowdsec_mp.config import load_config
    from crowdsec_mp.engine.alerts import runtime_alert_to_api
    from crowdsec_mp.engine.replay import Engine
    from crowdsec_mp.pipeline.engine_binding import InstalledItems

    items = InstalledItems(load_config(config))
    engine = Engine.build(items.ctx, items.patterns(), items.parser_files, [str(p) for p in items.scenario_files])
    lines = log_path.read_text().splitlines()
    started = time.perf_counter()
    result = engine.replay(lines, src=str(log_path), labels={"type": log_type}, record=False)
    elapsed = time.perf_counter() - started
    alerts = [a for o in result.overflows if not (o.Whitelisted or o.Overflow.Whitelisted)
              for a in runtime_alert_to_api(o.Overflow)]
    return elapsed, sorted(json.dumps(a, sort_keys=True) for a in alerts)


def daemon_run(config, log_path, log_type, workers, shards, dump):
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "crowdsec_mp.daemon", "-c", str(config), "-dsn",
                           f"file://{log_path}", "-type", log_type, "-no-api", "-dump-data", str(dump),
                           "-workers", str(workers), "-shards", str(shards), "-warning"],
                          capture_output=True, text=True, env=daemon_env())
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"daemon failed: {done.stderr}")
    alerts = [json.loads(line) for line in (dump / "alerts.jsonl").read_text().splitlines()]
    return elapsed, sorted(json.dumps(a, sort_keys=True) for a in alerts)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=50000)
    parser.add_argument("--kind", choices=["sshd", "nginx"], default="sshd")
    parser.add_argument("--combos", default="1x1,2x1,2x2")
    parser.add_argument("--shared", default=str(REPO.parent / "shared"))
    args = parser.parse_args()
    log_type = "syslog" if args.kind == "sshd" else "nginx"
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        log_path = tmp / f"{args.kind}.log"
        subprocess.run([sys.executable, os.path.join(args.shared, "tools", "gen_corpus.py"), "--kind", args.kind,
                        "--lines", str(args.lines), "--seed", "7", "--out", str(log_path)], check=True,
                       capture_output=True)
        one_line = tmp / "one.log"
        one_line.write_text(log_path.read_text().splitlines()[0] + "\n")
        config = make_config(tmp)
        elapsed, expected = single_process(config, log_path, log_type)
        print(f"single-process engine: {args.lines / elapsed:9.0f} lines/s ({elapsed:.2f}s, {len(expected)} alerts)")
        for combo in args.combos.split(","):
            workers, shards = (int(x) for x in combo.split("x"))
            startup, _ = daemon_run(config, one_line, log_type, workers, shards, tmp / "dump0")
            elapsed, got = daemon_run(config, log_path, log_type, workers, shards, tmp / "dump")
            same = "same alerts" if got == expected else "DIFFERENT ALERTS"
            steady = max(elapsed - startup, 1e-9)
            print(f"daemon {workers} workers x {shards} shards: {args.lines / elapsed:9.0f} lines/s wall "
                  f"({elapsed:.2f}s), {args.lines / steady:9.0f} lines/s without the {startup:.2f}s "
                  f"start-up/shutdown; {same}")


if __name__ == "__main__":
    main()
