"""Micro-benchmark of compiled expression evaluation (not a test).

    python benchmarks/expr_eval.py

Prints ns per Program.run for typical parser/scenario filters.
"""

from __future__ import annotations

import sys
import timeit
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from crowdsec_mp.engine.event import Event  # noqa: E402
from crowdsec_mp.engine.expr import compile_expr  # noqa: E402

CASES = [
    "evt.Parsed.program == 'sshd'",
    "evt.Meta.log_type in ['http_access-log', 'http_error-log'] && evt.Parsed.verb == 'GET'",
    "evt.Meta.service == 'http' && evt.Meta.http_status in ['404', '403', '400'] "
    "&& evt.Parsed.static_ressource == 'false'",
    "evt.Line.Labels.type == 'syslog' && evt.Parsed.program startsWith 'ssh'",
    "Upper(evt.Parsed.request) contains 'UNION' || evt.Parsed.request matches '(?i)select.+from'",
    "int(evt.Parsed.status) >= 400",
    "any(['a', 'b', 'c'], {# == evt.Parsed.program})",
    # Repeated pure call (computed once per run) and constant folding of Upper('...').
    "Upper(evt.Parsed.request) contains Upper('/a') || Upper(evt.Parsed.request) contains Upper('/b')"
    " || Upper(evt.Parsed.request) contains Upper('/c')",
]


def bench_regexp_in_file():
    """RegexpInFile over the hub's bad user-agent list (600+ regexps), uncached."""
    from pathlib import Path

    from crowdsec_mp.engine.datafiles import DataLibrary

    path = Path(__file__).resolve().parents[2] / "shared/hub/data/bad_user_agents.regex.txt"
    if not path.exists():
        print("(hub data file absent: RegexpInFile benchmark skipped)")
        return
    lib = DataLibrary()
    lib.load("ua", "regexp", path)
    regexps = lib._regexps["ua"]
    agent = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/120.0 Safari/537"
    number = 300
    combined = min(timeit.repeat(lambda: any(s(agent) for s in regexps.searchers),
                                 number=number, repeat=3)) / number
    each = min(timeit.repeat(lambda: regexps.search_each(agent), number=number,
                             repeat=3)) / number
    print(f"{combined * 1e6:8.1f} µs  RegexpInFile, {len(regexps.patterns)} regexps combined "
          f"({len(regexps.searchers)} searches), cache miss")
    print(f"{each * 1e6:8.1f} µs  same, one regexp at a time (reference)")


def main():
    evt = Event()
    evt.Parsed.update(program="sshd", verb="GET", status="404", request="/index.php?id=1",
                      static_ressource="false")
    evt.Meta.update(log_type="http_access-log", service="http", http_status="404")
    evt.Line.Labels["type"] = "syslog"
    env = {"evt": evt}
    baseline = lambda env: env["evt"].Parsed["program"] == "sshd"  # noqa: E731
    seconds = min(timeit.repeat(lambda: baseline(env), number=200_000, repeat=3))
    print(f"{seconds / 200_000 * 1e9:8.0f} ns  (baseline: hand-written Python lambda)")
    for source in CASES:
        program = compile_expr(source)
        number = 200_000
        seconds = min(timeit.repeat(lambda: program.run(env), number=number, repeat=3))
        print(f"{seconds / number * 1e9:8.0f} ns  {source}")
    bench_regexp_in_file()
    compile_seconds = timeit.timeit(lambda: compile_expr(CASES[1]), number=2000) / 2000
    print(f"{compile_seconds * 1e6:8.1f} µs  compile_expr of the second case")


if __name__ == "__main__":
    main()
