"""Single-process parser throughput (lines/s) on the hub's sshd and nginx stacks.

    python benchmarks/parse_throughput.py [--lines 50000] [--seed 1] [--profile]
                                          [--hub ../shared/hub] [--kind sshd|nginx|all]

Generates deterministic logs with ../shared/tools/gen_corpus.py, loads the real
hub items (crowdsecurity/syslog-logs, sshd-logs | nginx-logs + http-logs,
dateparse-enrich) and times `ParserTree.parse` over every line (no recorder,
no buckets). `--profile` prints the top cProfile entries of one run.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from crowdsec_mp.engine.context import EngineContext  # noqa: E402
from crowdsec_mp.engine.event import TIMEMACHINE, new_log_event  # noqa: E402
from crowdsec_mp.engine.grok import PatternLibrary  # noqa: E402
from crowdsec_mp.engine.parser import load_parsers  # noqa: E402
from crowdsec_mp.hub.index import HubIndex  # noqa: E402

STACKS = {
    "sshd": ("syslog", ["crowdsecurity/syslog-logs", "crowdsecurity/sshd-logs",
                        "crowdsecurity/dateparse-enrich"]),
    "nginx": ("nginx", ["crowdsecurity/syslog-logs", "crowdsecurity/nginx-logs",
                        "crowdsecurity/http-logs", "crowdsecurity/dateparse-enrich"]),
}


def build_tree(hub: Path, items):
    index = HubIndex.load(hub)
    files = []
    for name in items:
        item = index.item("parsers", name)
        files.append((item.stage, item.path))
    ctx = EngineContext(data_dir=str(hub / "data"))
    return load_parsers(files, ctx, PatternLibrary.load([str(hub / "patterns")]))


def generate(kind: str, lines: int, seed: int, directory: Path) -> list[str]:
    out = directory / f"{kind}.log"
    subprocess.run([sys.executable, str(REPO.parent / "shared/tools/gen_corpus.py"), "--kind", kind,
                    "--lines", str(lines), "--seed", str(seed), "--out", str(out)],
                   check=True, stdout=subprocess.DEVNULL)
    return out.read_text(encoding="utf-8").splitlines()


def run(tree, lines, log_type, src):
    labels = {"type": log_type}
    parsed = 0
    for raw in lines:
        evt = new_log_event(raw, src=src, labels=labels, expect_mode=TIMEMACHINE)
        if tree.parse(evt).Process:
            parsed += 1
    return parsed


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=50000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--hub", default=str(REPO.parent / "shared/hub"))
    parser.add_argument("--kind", choices=["sshd", "nginx", "all"], default="all")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args(argv)
    hub = Path(args.hub)
    kinds = ["sshd", "nginx"] if args.kind == "all" else [args.kind]
    with tempfile.TemporaryDirectory() as tmp:
        for kind in kinds:
            log_type, items = STACKS[kind]
            lines = generate(kind, args.lines, args.seed, Path(tmp))
            tree = build_tree(hub, items)
            run(tree, lines[:500], log_type, "/var/log/bench.log")  # warm-up
            if args.profile:
                profiler = cProfile.Profile()
                profiler.enable()
            start, cpu_start = time.perf_counter(), time.process_time()
            parsed = run(tree, lines, log_type, "/var/log/bench.log")
            elapsed = time.perf_counter() - start
            # CPU time too: the machine is shared, wall time varies with the load.
            cpu = time.process_time() - cpu_start
            if args.profile:
                profiler.disable()
                pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)
            print(f"{kind}: {len(lines)} lines in {elapsed:.2f}s = {len(lines) / elapsed:,.0f} lines/s wall, "
                  f"{len(lines) / cpu:,.0f} lines/s CPU ({parsed} parsed, {len(lines) - parsed} unparsed)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
