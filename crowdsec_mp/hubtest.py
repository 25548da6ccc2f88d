"""Runner for CrowdSec hub tests (spec/hubtest.md), in one process, without the daemon.

    options = HubTestOptions(hub_dir=..., tests_dir=..., year=2026)
    result = run_test(tests_dir / "ssh-bf", options)      # -> TestResult

A test: load `config.yaml` (non-strict), resolve the listed items through the
hub index or by path (`crowdsec_mp.hub.index.resolve_test_item`), build an
`Engine`, replay the log file with the parser recorder, then evaluate
`parser.assert` against the parser results and `scenario.assert` against the
sorted overflows. Every failure (bad config, load error, assert error) becomes a
failed TestResult with an `error` text; nothing raises out of `run_test`.
"""

from __future__ import annotations

import gzip
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import yaml

from crowdsec_mp.config import BUILTIN_CONFIG_DIR
from crowdsec_mp.errors import ConfigError, CrowdsecMPError
from crowdsec_mp.hub.index import HubIndex, resolve_test_item

#: Tests for which CrowdSec forces `own_data_dir` (not relevant offline, kept for fidelity).
OWN_DATA_DIR_TESTS = {"magento-ccs-by-as", "magento-ccs-by-country", "geoip-enrich"}


@dataclass
class HubTestOptions:
    hub_dir: Path
    tests_dir: Path
    patterns_dir: Path | None = None     # default: <hub>/patterns, else conf.d/patterns
    data_dir: Path | None = None         # default: <hub>/data
    geoip_dir: Path | None = None        # directory with GeoLite2-*.mmdb (None = no GeoIP)
    year: int | None = None              # "current year" for year-less dates (None = clock)

    def resolved_patterns_dir(self) -> Path:
        if self.patterns_dir:
            return Path(self.patterns_dir)
        hub_patterns = Path(self.hub_dir) / "patterns"
        return hub_patterns if hub_patterns.is_dir() else BUILTIN_CONFIG_DIR / "patterns"

    def resolved_data_dir(self) -> Path:
        return Path(self.data_dir) if self.data_dir else Path(self.hub_dir) / "data"


@dataclass
class AssertFailure:
    file: str
    line_number: int
    expression: str
    value: str = ""                      # YAML of the left-hand side, when it can be computed


@dataclass
class TestResult:
    name: str
    success: bool = False
    parser_total: int = 0
    parser_failed: int = 0
    scenario_total: int = 0
    scenario_failed: int = 0
    error: str = ""
    failures: list = field(default_factory=list)
    evaluated_parser: bool = False
    evaluated_scenario: bool = False

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "success": self.success,
            "parser_asserts": {"total": self.parser_total, "failed": self.parser_failed},
            "scenario_asserts": {"total": self.scenario_total, "failed": self.scenario_failed},
            "error": self.error,
            "failures": [
                {"file": f.file, "line": f.line_number, "expression": f.expression, "value": f.value}
                for f in self.failures
            ],
        }


# -- test configuration ----------------------------------------------------------


@dataclass
class HubTestConfig:
    parsers: list
    scenarios: list
    postoverflows: list
    log_file: str
    log_type: str
    labels: dict
    ignore_parsers: bool
    override_statics: list

    @classmethod
    def load(cls, path: Path) -> "HubTestConfig":
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except OSError as exc:
            raise ConfigError(f"cannot read: {exc.strerror or exc}", file=path) from exc
        except yaml.YAMLError as exc:
            raise ConfigError(f"invalid YAML: {exc}", file=path) from exc
        if not isinstance(raw, dict):
            raise ConfigError("must be a mapping", file=path)

        def names(key):
            value = raw.get(key) or []
            if not isinstance(value, list):
                raise ConfigError("must be a list", file=path, field=key)
            return [str(v).strip() for v in value if v not in (None, "") and str(v).strip()]

        labels = raw.get("labels") or {}
        if not isinstance(labels, dict):
            raise ConfigError("must be a mapping", file=path, field="labels")
        statics = raw.get("override_statics") or []
        if not isinstance(statics, list):
            raise ConfigError("must be a list", file=path, field="override_statics")
        if not raw.get("log_file"):
            raise ConfigError("log_file is required", file=path, field="log_file")
        return cls(
            parsers=names("parsers"), scenarios=names("scenarios"),
            postoverflows=names("postoverflows"), log_file=str(raw["log_file"]),
            log_type=str(raw.get("log_type") or ""),
            labels={str(k): str(v) for k, v in labels.items()},
            ignore_parsers=bool(raw.get("ignore_parsers")), override_statics=statics,
        )


def install_items(config: HubTestConfig, hub_dir: Path, test_dir: Path, index: HubIndex):
    """Resolve items -> (parser files, scenario files, postoverflow files).

    Installed names are `<stage>/<basename>`; when two items share one, the first
    wins (the second symlink already exists in CrowdSec's runtime dir).
    """

    def resolve(kind, refs):
        seen, files = set(), []
        for ref in refs:
            stage, path = resolve_test_item(kind, ref, hub_dir, test_dir, index=index)
            installed = (stage, path.name)
            if installed in seen:
                continue
            seen.add(installed)
            files.append((stage, path))
        return files

    parsers = resolve("parsers", config.parsers)
    if config.override_statics:
        text = yaml.safe_dump({"name": "overrides", "filter": "1==1",
                               "statics": config.override_statics}, sort_keys=False)
        parsers.append(("s00-raw", str(test_dir / "runtime/parsers/s00-raw/00_overrides.yaml"), text))
    scenarios = [path for _, path in resolve("scenarios", config.scenarios)]
    postoverflows = resolve("postoverflows", config.postoverflows)
    return parsers, scenarios, postoverflows


def read_log_lines(path: Path) -> list[bytes]:
    """Lines as the file datasource splits them (on `\\n`; `.gz` decompressed)."""
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rb") as handle:
        data = handle.read()
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    return lines


# -- asserts ---------------------------------------------------------------------


def go_basename(path) -> str:
    """Go `filepath.Base`."""
    if not isinstance(path, str):
        raise TypeError(f"basename: expected a string, got {type(path).__name__}")
    if path == "":
        return "."
    stripped = path.rstrip("/")
    if stripped == "":
        return "/"
    return stripped.rsplit("/", 1)[-1]


def basename_shim(line: str) -> str:
    """Lines about datasource_path without basename( get it wrapped (expr.md §3.5)."""
    if "datasource_path" in line and "basename(" not in line and line.count("==") == 1:
        left, right = line.split("==", 1)
        return f"basename({left.strip()}) == {right.strip()}"
    return line


_LHS = re.compile(r"(?P<variable>[^ =]+) == .*")


class AssertError(CrowdsecMPError):
    """An assert line could not be compiled/evaluated or did not give a bool."""


def evaluate_asserts(path: Path, env: dict, ctx, failures: list) -> tuple[int, int]:
    """Evaluate one assert file; returns (evaluated, failed). Raises AssertError."""
    from crowdsec_mp.engine.expr import compile_expr

    try:
        lines = path.read_text(encoding="utf-8").split("\n") if path.is_file() else []
    except OSError as exc:
        raise AssertError(f"{path.name}: cannot read: {exc}") from exc
    extra = {"basename": go_basename}
    total = failed = 0
    for number, line in enumerate(lines, start=1):
        if line == "":
            continue
        source = basename_shim(line)
        where = f"{path.name}:{number}"
        try:
            program = compile_expr(source, ctx=ctx, where=where, extra_funcs=extra)
            value = program.run(env)
        except Exception as exc:
            raise AssertError(f"{where}: {source!r}: {exc}") from exc
        if not isinstance(value, bool):
            raise AssertError(f"{where}: {source!r}: result is {type(value).__name__}, not a bool")
        total += 1
        if not value:
            failed += 1
            failures.append(AssertFailure(path.name, number, line, _lhs_value(source, env, ctx, extra)))
    return total, failed


def _lhs_value(source, env, ctx, extra) -> str:
    from crowdsec_mp.engine.expr import compile_expr

    match = _LHS.search(source)
    if not match:
        return ""
    try:
        value = compile_expr(match.group("variable"), ctx=ctx, extra_funcs=extra).run(env)
    except Exception as exc:
        return f"<error: {exc}>"
    try:
        text = yaml.safe_dump(value, default_flow_style=True)
        return "\n".join(line for line in text.splitlines() if line != "...").strip()
    except yaml.YAMLError:
        return repr(value)


# -- running ---------------------------------------------------------------------


def build_context(options: HubTestOptions):
    from crowdsec_mp.engine.context import EngineContext

    geoip = None
    if options.geoip_dir:
        from crowdsec_mp.engine.enrich.geoip import GeoIPDatabases

        geoip = GeoIPDatabases.open(str(options.geoip_dir))
    return EngineContext(
        current_year=options.year, data_dir=str(options.resolved_data_dir()), geoip=geoip,
    )


def run_replay(test_dir: Path, options: HubTestOptions, index: HubIndex | None = None):
    """Load a test and replay its log: (config, ReplayResult, ctx). Raises on errors."""
    from crowdsec_mp.engine.grok import PatternLibrary
    from crowdsec_mp.engine.replay import Engine

    hub_dir = Path(options.hub_dir)
    index = index or HubIndex.load(hub_dir)
    config = HubTestConfig.load(test_dir / "config.yaml")
    parsers, scenarios, postoverflows = install_items(config, hub_dir, test_dir, index)
    ctx = build_context(options)
    pattern_dirs = [str(options.resolved_patterns_dir())]
    engine = Engine.build(
        ctx, PatternLibrary.load(pattern_dirs), parsers, scenarios, postoverflows,
        postoverflow_patterns=PatternLibrary.load(pattern_dirs) if postoverflows else None,
    )
    log_path = (test_dir / config.log_file).resolve()
    if not log_path.is_file() or log_path.stat().st_size == 0:
        raise ConfigError("log file is missing or empty", file=log_path, field="log_file")
    labels = dict(config.labels)
    labels["type"] = config.log_type
    result = engine.replay(read_log_lines(log_path), src=str(log_path), labels=labels)
    return config, result, ctx


def run_test(test_dir, options: HubTestOptions, index: HubIndex | None = None) -> TestResult:
    test_dir = Path(test_dir)
    outcome = TestResult(name=test_dir.name)
    try:
        config, replayed, ctx = run_replay(test_dir, options, index)
        if not config.ignore_parsers:
            outcome.evaluated_parser = True
            outcome.parser_total, outcome.parser_failed = evaluate_asserts(
                test_dir / "parser.assert", {"results": replayed.parser_results}, ctx, outcome.failures)
        if config.scenarios:
            outcome.evaluated_scenario = True
            outcome.scenario_total, outcome.scenario_failed = evaluate_asserts(
                test_dir / "scenario.assert", {"results": replayed.overflows}, ctx, outcome.failures)
    except Exception as exc:  # any error = failed test, reported with its message
        outcome.error = f"{type(exc).__name__}: {exc}" if not isinstance(exc, CrowdsecMPError) else str(exc)
        return outcome
    empty = [
        name for name, evaluated, total in (
            ("parser.assert", outcome.evaluated_parser, outcome.parser_total),
            ("scenario.assert", outcome.evaluated_scenario, outcome.scenario_total),
        ) if evaluated and total == 0
    ]
    if empty:
        outcome.error = "please fill your assert file(s): " + ", ".join(empty)
        return outcome
    outcome.success = outcome.parser_failed == 0 and outcome.scenario_failed == 0
    return outcome


def list_tests(tests_dir) -> list[Path]:
    tests_dir = Path(tests_dir)
    return sorted(p for p in tests_dir.iterdir() if (p / "config.yaml").is_file())


def _run_one(args):
    test_dir, options = args
    return run_test(test_dir, options)


def run_tests(test_dirs, options: HubTestOptions, jobs: int = 1) -> list[TestResult]:
    """Run tests, in `jobs` processes when > 1; results in the order given."""
    test_dirs = [Path(t) for t in test_dirs]
    if jobs <= 1 or len(test_dirs) <= 1:
        index = HubIndex.load(options.hub_dir)
        return [run_test(t, options, index) for t in test_dirs]
    import multiprocessing

    with multiprocessing.get_context("fork").Pool(jobs) as pool:
        return pool.map(_run_one, [(t, options) for t in test_dirs], chunksize=1)


def default_year() -> int:
    return datetime.now(timezone.utc).year


__all__ = [
    "HubTestOptions", "TestResult", "HubTestConfig", "run_test", "run_tests", "run_replay",
    "list_tests", "go_basename", "basename_shim", "evaluate_asserts", "install_items",
    "OWN_DATA_DIR_TESTS", "default_year",
]
