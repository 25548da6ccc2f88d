"""Single-process full replay throughput (lines/s): parsers + scenarios + postoverflows.

    python benchmarks/replay_throughput.py [--lines 100000] [--seed 1] [--kind sshd|nginx|all]
                                           [--hub ../shared/hub] [--profile] [--no-prefilter]

Generates deterministic logs with ../shared/tools/gen_corpus.py and replays them
through `engine.replay.Engine` loaded with every parser, scenario and
postoverflow of the collections crowdsecurity/linux, nginx, base-http-scenarios
and http-cve (resolved recursively through the hub's .index.json), as
`crowdsec -dsn file://... -type <type>` would. Prints lines/s and the number of
overflows per scenario. Targets: >= 14,000 lines/s sshd, >= 5,000 lines/s nginx.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from crowdsec_mp.engine.context import EngineContext  # noqa: E402
from crowdsec_mp.engine.grok import PatternLibrary  # noqa: E402
from crowdsec_mp.engine.replay import Engine  # noqa: E402
from crowdsec_mp.hub.index import HubIndex  # noqa: E402

COLLECTIONS = ["crowdsecurity/linux", "crowdsecurity/nginx", "crowdsecurity/base-http-scenarios",
               "crowdsecurity/http-cve"]
LOG_TYPES = {"sshd": "syslog", "nginx": "nginx"}


def resolve_collections(index: HubIndex, names) -> dict[str, list[str]]:
    """Member item names by kind, depth-first, each item once, in declaration order."""
    members: dict[str, list[str]] = {"parsers": [], "scenarios": [], "postoverflows": []}
    seen = set()

    def visit(name):
        if name in seen:
            return
        seen.add(name)
        item = index.item("collections", name)
        for kind in members:
            for member in item.members.get(kind, []):
                if member not in members[kind]:
                    members[kind].append(member)
        for sub in item.members.get("collections", []):
            visit(sub)

    for name in names:
        visit(name)
    return members


def build_engine(hub: Path, prefilter: bool = True) -> Engine:
    index = HubIndex.load(hub)
    members = resolve_collections(index, COLLECTIONS)
    parsers = [index.item("parsers", n) for n in members["parsers"]]
    postoverflows = [index.item("postoverflows", n) for n in members["postoverflows"]]
    scenarios = [index.item("scenarios", n).path for n in members["scenarios"]]
    ctx = EngineContext(data_dir=str(hub / "data"))
    patterns = [str(hub / "patterns")]
    engine = Engine.build(
        ctx, PatternLibrary.load(patterns),
        [(p.stage, p.path) for p in parsers], scenarios, [(p.stage, p.path) for p in postoverflows],
        postoverflow_patterns=PatternLibrary.load(patterns) if postoverflows else None,
    )
    if not prefilter and engine.buckets is not None:
        from crowdsec_mp.engine.buckets.prefilter import ScenarioIndex

        engine.buckets.index = ScenarioIndex(engine.buckets.scenarios, enabled=False)
    print(f"loaded {len(parsers)} parsers, {len(engine.scenarios)} scenarios, "
          f"{len(postoverflows)} postoverflows", file=sys.stderr)
    return engine


def generate(kind: str, lines: int, seed: int, directory: Path) -> list[str]:
    out = directory / f"{kind}.log"
    subprocess.run([sys.executable, str(REPO.parent / "shared/tools/gen_corpus.py"), "--kind", kind,
                    "--lines", str(lines), "--seed", str(seed), "--out", str(out)],
                   check=True, stdout=subprocess.DEVNULL)
    return out.read_text(encoding="utf-8").splitlines()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--hub", default=str(REPO.parent / "shared/hub"))
    parser.add_argument("--kind", choices=["sshd", "nginx", "all"], default="all")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--no-prefilter", action="store_true", help="evaluate every scenario filter")
    args = parser.parse_args(argv)
    hub = Path(args.hub)
    kinds = ["sshd", "nginx"] if args.kind == "all" else [args.kind]
    with tempfile.TemporaryDirectory() as tmp:
        for kind in kinds:
            lines = generate(kind, args.lines, args.seed, Path(tmp))
            engine = build_engine(hub, prefilter=not args.no_prefilter)
            labels = {"type": LOG_TYPES[kind]}
            if args.profile:
                profiler = cProfile.Profile()
                profiler.enable()
            start, cpu_start = time.perf_counter(), time.process_time()
            result = engine.replay(lines, src=str(Path(tmp) / f"{kind}.log"), labels=labels, record=False)
            elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu_start
            if args.profile:
                profiler.disable()
                pstats.Stats(profiler).sort_stats("tottime").print_stats(30)
            per_scenario = Counter(o.Overflow.Alert.GetScenario() for o in result.overflows)
            # CPU time is less sensitive to other processes sharing the machine.
            print(f"{kind}: {len(lines)} lines in {elapsed:.2f}s = {len(lines) / elapsed:,.0f} lines/s "
                  f"(CPU {cpu:.2f}s = {len(lines) / cpu:,.0f} lines/s); "
                  f"{len(result.overflows)} overflows; stats {dict(result.stats)}")
            for name, count in sorted(per_scenario.items()):
                print(f"    {count:6d}  {name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
