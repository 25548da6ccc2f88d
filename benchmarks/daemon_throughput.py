"""Replay throughput and memory of the daemon vs the single-process engine (not a test).

    python benchmarks/daemon_throughput.py [--lines 1000000] [--kinds sshd,nginx] [--combos 1x1,2x1]

For each corpus kind it generates a log with ../shared/tools/gen_corpus.py, installs
the CrowdSec hub collections linux, nginx, base-http-scenarios and http-cve (from
../shared/hub, test data) with our own installer into a temporary config, then runs:

* the single-process engine (`replay.Engine`) in a child process of this script;
* `crowdsec-mp -dsn ... -dump-data` for each workers x shards combo.

Every run is a separate process tree, sampled with psutil every 0.1 s: peak RSS is
the peak of the SUM of the RSS of every process of the tree (supervisor, parsers,
shards, output), which is what the machine has to provide. lines/s is the wall time
of the whole run including start-up (the start-up cost, measured on a 1-line file, is
printed too). Every daemon run is checked to give exactly the single-process alerts.
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

from daemon_env import daemon_env, make_hub_config  # noqa: E402
from process_tree import watch_tree  # noqa: E402

COLLECTIONS = ["crowdsecurity/linux", "crowdsecurity/nginx", "crowdsecurity/base-http-scenarios",
               "crowdsecurity/http-cve"]
LOG_TYPES = {"sshd": "syslog", "nginx": "nginx"}
MIB = 1024 * 1024


def single_process_main(config, log_path, log_type, out_path) -> None:
    """Runs in its own process (`--single`): replay with `replay.Engine`, alerts to out_path."""
    from crowdsec_mp.config import load_config
    from crowdsec_mp.engine.alerts import runtime_alert_to_api
    from crowdsec_mp.engine.replay import Engine
    from crowdsec_mp.pipeline.engine_binding import InstalledItems

    items = InstalledItems(load_config(config))
    engine = Engine.build(items.ctx, items.patterns(), items.parser_files, [str(p) for p in items.scenario_files])
    postoverflows = items.postoverflows()
    with open(log_path, encoding="utf-8", errors="replace") as handle:
        lines = handle.read().splitlines()
    result = engine.replay(lines, src=str(log_path), labels={"type": log_type}, record=False)
    alerts = []
    for overflow in result.overflows:
        if overflow.Overflow.Alert is None:
            continue
        if postoverflows is not None:
            postoverflows.parse(overflow)
        if not (overflow.Whitelisted or overflow.Overflow.Whitelisted):
            alerts += runtime_alert_to_api(overflow.Overflow)
    with open(out_path, "w", encoding="utf-8") as handle:
        for alert in alerts:
            handle.write(json.dumps(alert, sort_keys=True, default=str) + "\n")


#: role -> CPU seconds of the last run_sampled() (last sample of each process: a few
#: hundred ms may be missing per process; it is a profile, not an exact account).
LAST_CPU: dict[str, float] = {}
#: role -> peak RSS in bytes of that process during the last run_sampled().
LAST_PEAK_RSS: dict[str, int] = {}


def _role(pid: int, cmdline: list[str], root_pid: int) -> str:
    if pid == root_pid:
        return "supervisor"
    if "crowdsec_mp.pipeline.child" in cmdline:
        at = cmdline.index("crowdsec_mp.pipeline.child")
        return "-".join(cmdline[at + 1:at + 3])
    return "other"


def run_sampled(command) -> tuple[float, int]:
    """Runs command; returns (wall seconds, peak of the summed RSS of its process tree)."""
    started = time.perf_counter()
    proc = subprocess.Popen(command, env=daemon_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    usage = watch_tree(proc, 0.1)
    LAST_CPU.clear()
    LAST_PEAK_RSS.clear()
    for pid, seconds in usage.cpu_by_pid.items():
        role = _role(pid, usage.cmdline_by_pid[pid], proc.pid)
        LAST_CPU[role] = LAST_CPU.get(role, 0.0) + seconds
        LAST_PEAK_RSS[role] = LAST_PEAK_RSS.get(role, 0) + usage.peak_rss_by_pid[pid]
    elapsed = time.perf_counter() - started
    err = proc.stderr.read()
    if proc.returncode != 0:
        raise SystemExit(f"{command[2:5]} failed ({proc.returncode}): {err[-3000:]}")
    return elapsed, usage.peak_rss


def canonical_alerts(path: Path) -> list[str]:
    # Same canonical form for both sides (the daemon writes sort_keys JSON too).
    return sorted(json.dumps(json.loads(line), sort_keys=True) for line in path.read_text().splitlines())


def daemon_command(config, log_path, log_type, workers, shards, dump):
    return [sys.executable, "-m", "crowdsec_mp.daemon", "-c", str(config), "-dsn", f"file://{log_path}",
            "-type", log_type, "-no-api", "-dump-data", str(dump), "-workers", str(workers),
            "-shards", str(shards), "-warning"]


def bench_kind(kind, args, tmp: Path) -> None:
    log_type = LOG_TYPES[kind]
    log_path = tmp / f"{kind}-{args.lines}.log"
    if not log_path.exists():
        subprocess.run([sys.executable, os.path.join(args.shared, "tools", "gen_corpus.py"), "--kind", kind,
                        "--lines", str(args.lines), "--seed", "7", "--out", str(log_path)], check=True,
                       capture_output=True)
    one_line = tmp / f"{kind}-one.log"
    with open(log_path, encoding="utf-8") as handle:
        one_line.write_text(handle.readline())
    config = make_hub_config(tmp / kind, Path(args.shared) / "hub", COLLECTIONS)
    single_out = tmp / f"{kind}-{args.lines}-single.jsonl"
    single_figures = tmp / f"{kind}-{args.lines}-single.json"
    if single_figures.exists():  # --workdir reused: the reference run is not repeated
        elapsed, peak = json.loads(single_figures.read_text())
    else:
        elapsed, peak = run_sampled([sys.executable, __file__, "--single", str(config), str(log_path), log_type,
                                     str(single_out)])
        single_figures.write_text(json.dumps([elapsed, peak]))
    expected = canonical_alerts(single_out)
    print(f"{kind}: single-process engine: {args.lines / elapsed:8.0f} lines/s ({elapsed:7.1f}s), "
          f"peak RSS {peak / MIB:6.0f} MiB, {len(expected)} alerts", flush=True)
    for combo in args.combos.split(","):
        workers, shards = (int(x) for x in combo.split("x"))
        startup, _ = run_sampled(daemon_command(config, one_line, log_type, workers, shards, tmp / "dump0"))
        elapsed, peak = run_sampled(daemon_command(config, log_path, log_type, workers, shards, tmp / "dump"))
        got = canonical_alerts(tmp / "dump" / "alerts.jsonl")
        same = "same alerts" if got == expected else f"DIFFERENT ALERTS ({len(got)} vs {len(expected)})"
        print(f"{kind}: daemon {workers} workers x {shards} shards: {args.lines / elapsed:8.0f} lines/s "
              f"({elapsed:7.1f}s incl. {startup:.1f}s start-up+stop), peak total RSS {peak / MIB:6.0f} MiB; {same}",
              flush=True)
        print("    CPU seconds per process: " + ", ".join(f"{role} {seconds:.1f}" for role, seconds
                                                        in sorted(LAST_CPU.items())), flush=True)
        print("    peak RSS per process (MiB): " + ", ".join(f"{role} {rss / MIB:.0f}" for role, rss
                                                            in sorted(LAST_PEAK_RSS.items())), flush=True)


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--single":
        single_process_main(*sys.argv[2:6])
        return
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--kinds", default="sshd,nginx")
    parser.add_argument("--combos", default="1x1,2x1")
    parser.add_argument("--shared", default=str(REPO.parent / "shared"))
    parser.add_argument("--workdir", default=None,
                        help="keep corpora and single-process results here and reuse them")
    args = parser.parse_args()
    if args.workdir:
        Path(args.workdir).mkdir(parents=True, exist_ok=True)
        for kind in args.kinds.split(","):
            bench_kind(kind, args, Path(args.workdir))
        return
    with tempfile.TemporaryDirectory() as tmp:
        for kind in args.kinds.split(","):
            bench_kind(kind, args, Path(tmp))


if __name__ == "__main__":
    main()
