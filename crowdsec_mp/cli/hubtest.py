"""`cscli-mp hubtest run`: run CrowdSec hub tests (spec/hubtest.md) with our engine.

    cscli-mp hubtest run --hub DIR [--tests DIR] (--all | NAME...) [-o human|json]
                         [--patterns DIR] [--data-dir DIR] [--geoip-dir DIR] [--year N] [--jobs N]

`-o json` prints a JSON list, one object per test:
`{"name", "success", "parser_asserts": {"total", "failed"}, "scenario_asserts": {...}, "error"}`
(plus the failing lines under "failures"). Exit status 1 when any test failed.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path

from crowdsec_mp.errors import ConfigError


def register(subparsers, common):
    hubtest = subparsers.add_parser("hubtest", parents=[common], help="run hub tests")
    actions = hubtest.add_subparsers(dest="hubtest_command", metavar="ACTION")
    run = actions.add_parser("run", parents=[common], help="run hub tests")
    run.add_argument("--hub", required=True, help="hub directory (with .index.json)")
    run.add_argument("--tests", default=None,
                     help="tests directory (default: <hub>/tests, else <hub>/.tests)")
    run.add_argument("--all", action="store_true", help="run every test of the tests directory")
    run.add_argument("names", nargs="*", metavar="NAME", help="test names")
    run.add_argument("--patterns", default=None, help="grok patterns directory (default: <hub>/patterns)")
    run.add_argument("--data-dir", default=None, help="data files directory (default: <hub>/data)")
    run.add_argument("--geoip-dir", default=None, help="directory with GeoLite2-City/ASN.mmdb")
    run.add_argument("--year", type=int, default=None,
                     help="current year for dates without a year (default: this year)")
    run.add_argument("--jobs", "-j", type=int, default=1,
                     help="worker processes for several tests (default 1; 0 = number of CPUs)")
    run.set_defaults(func=run_command)
    hubtest.set_defaults(func=lambda args: (hubtest.print_help(), 1)[1])


def _tests_dir(args) -> Path:
    if args.tests:
        return Path(args.tests)
    hub = Path(args.hub)
    for candidate in (hub / "tests", hub / ".tests"):
        if candidate.is_dir():
            return candidate
    raise ConfigError("no tests directory found; use --tests", file=hub)


def run_command(args) -> int:
    # Engine warnings (dropped events, skipped statics) are noise here unless --debug.
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.ERROR,
                        format="%(levelname)s %(name)s: %(message)s")
    from crowdsec_mp.hubtest import HubTestOptions, default_year, list_tests, run_tests

    tests_dir = _tests_dir(args)
    if args.all:
        test_dirs = list_tests(tests_dir)
    elif args.names:
        test_dirs = []
        for name in args.names:
            path = tests_dir / name
            if not (path / "config.yaml").is_file():
                raise ConfigError("no such test (config.yaml missing)", file=path)
            test_dirs.append(path)
    else:
        print("cscli-mp hubtest run: give test names or --all", file=sys.stderr)
        return 2
    options = HubTestOptions(
        hub_dir=Path(args.hub), tests_dir=tests_dir,
        patterns_dir=Path(args.patterns) if args.patterns else None,
        data_dir=Path(args.data_dir) if args.data_dir else None,
        geoip_dir=Path(args.geoip_dir) if args.geoip_dir else None,
        year=args.year if args.year is not None else default_year(),
    )
    jobs = args.jobs if args.jobs > 0 else (os.cpu_count() or 1)
    results = run_tests(test_dirs, options, jobs=jobs)
    if args.output == "json":
        print(json.dumps([r.to_json() for r in results], indent=2))
    else:
        print_human(results)
    return 0 if all(r.success for r in results) else 1


def print_human(results, file=None):
    from rich.console import Console
    from rich.table import Table

    console = Console(file=file or sys.stdout, highlight=False, soft_wrap=True)
    table = Table(title="Hub tests")
    table.add_column("Test")
    table.add_column("Result")
    table.add_column("Parser asserts", justify="right")
    table.add_column("Scenario asserts", justify="right")
    for result in results:
        table.add_row(
            result.name,
            "✅" if result.success else "❌",
            f"{result.parser_total - result.parser_failed}/{result.parser_total}",
            f"{result.scenario_total - result.scenario_failed}/{result.scenario_total}",
        )
    console.print(table)
    for result in results:
        if result.success:
            continue
        console.print(f"[bold]{result.name}[/bold]: " + (result.error or "assert failures"), markup=True)
        for failure in result.failures[:10]:
            console.print(f"  {failure.file}:{failure.line_number}: {failure.expression}", markup=False)
            if failure.value:
                console.print(f"      got: {failure.value}", markup=False)
        if len(result.failures) > 10:
            console.print(f"  ... {len(result.failures) - 10} more failing lines", markup=False)
    passed = sum(1 for r in results if r.success)
    console.print(f"{passed}/{len(results)} tests passed, {len(results) - passed} failed", markup=False)
