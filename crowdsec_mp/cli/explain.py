"""`cscli-mp explain`: show how lines go through the parsers (like `cscli explain`).

    cscli-mp explain --log LINE --type TYPE
    cscli-mp explain --file FILE --type TYPE
        [--parsers DIR | --hub DIR --items a/b,c/d | -c config.yaml] [--patterns DIR]
        [--data-dir DIR] [--labels k:v,...] [--year N] [-o human|json] [-v]

For every line: per stage, every top-level parser reached with ✓/✗ and the
fields it changed (Parsed, Meta, Enriched, Unmarshaled, Stage, Whitelisted...),
whether the line was parsed, and the scenarios whose filter accepted it
(the buckets it was poured into) when scenarios are loaded.

Where the items come from, first match wins:
* `--hub DIR --items a/b,c/d`: those hub items (parsers, scenarios, postoverflows);
* `--parsers DIR`: a tree `DIR/parsers/<stage>/*.yaml` (+ `DIR/scenarios/*.yaml`,
  `DIR/postoverflows/<stage>/*.yaml` when present);
* the items installed in the config directory of `-c` (default config).
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

from crowdsec_mp.errors import ConfigError

#: Event fields shown in diffs, in display order.
SCALAR_FIELDS = ("Stage", "Whitelisted", "WhitelistReason", "StrTime", "StrTimeFormat",
                 "MarshaledTime", "Time")
MAP_FIELDS = ("Parsed", "Meta", "Enriched", "Unmarshaled")


def register(subparsers, common):
    explain = subparsers.add_parser("explain", parents=[common],
                                    help="explain how log lines are parsed")
    source = explain.add_mutually_exclusive_group(required=True)
    source.add_argument("--log", help="one log line to explain")
    source.add_argument("--file", help="a log file to explain (every line)")
    explain.add_argument("--type", required=True, help="log type (acquisition label `type`)")
    explain.add_argument("--labels", default="", help="extra labels k:v,k2:v2")
    explain.add_argument("--parsers", default=None,
                         help="directory holding parsers/<stage>/*.yaml (and scenarios/, postoverflows/)")
    explain.add_argument("--hub", default=None, help="hub directory (with .index.json), used with --items")
    explain.add_argument("--items", default="", help="comma-separated hub items to load (with --hub)")
    explain.add_argument("--patterns", default=None, help="grok patterns directory")
    explain.add_argument("--data-dir", default=None, help="data files directory")
    explain.add_argument("--year", type=int, default=None, help="current year for dates without a year")
    explain.add_argument("-v", "--verbose", action="store_true", help="also show unchanged failing parsers' details")
    explain.set_defaults(func=run_command)


# -- item discovery -------------------------------------------------------------------


def _tree_files(root: Path):
    """(parsers, scenarios, postoverflows) of an installed tree."""
    from crowdsec_mp.engine.parser import find_stage_files

    def staged(kind):
        return find_stage_files(root / kind)

    scenarios_dir = root / "scenarios"
    scenarios = sorted(
        p for p in scenarios_dir.iterdir() if p.is_file() and p.suffix in (".yaml", ".yml")
    ) if scenarios_dir.is_dir() else []
    return staged("parsers"), scenarios, staged("postoverflows")


def _hub_item_files(hub_dir: Path, names):
    from crowdsec_mp.hub.index import HubIndex

    index = HubIndex.load(hub_dir)
    parsers, scenarios, postoverflows = [], [], []
    for name in names:
        for kind, bucket in (("parsers", parsers), ("scenarios", scenarios),
                             ("postoverflows", postoverflows)):
            if index.has(kind, name):
                item = index.item(kind, name)
                bucket.append(item.path if kind == "scenarios" else (item.stage, item.path))
                break
        else:
            raise ConfigError("not a parser, scenario or postoverflow of the hub index",
                              file=hub_dir / ".index.json", item=name)
    return parsers, scenarios, postoverflows


def resolve_sources(args):
    """-> (parsers, scenarios, postoverflows, patterns_dir, data_dir)."""
    patterns_dir = Path(args.patterns) if args.patterns else None
    data_dir = Path(args.data_dir) if args.data_dir else None
    if args.hub and args.items:
        hub = Path(args.hub)
        names = [n.strip() for n in args.items.split(",") if n.strip()]
        parsers, scenarios, postoverflows = _hub_item_files(hub, names)
        patterns_dir = patterns_dir or (hub / "patterns")
        data_dir = data_dir or (hub / "data")
    elif args.parsers:
        root = Path(args.parsers)
        parsers, scenarios, postoverflows = _tree_files(root)
        if not parsers:
            raise ConfigError("no parsers found (expected parsers/<stage>/*.yaml)", file=root)
        if patterns_dir is None and (root / "patterns").is_dir():
            patterns_dir = root / "patterns"
    else:
        from crowdsec_mp.config import load_config

        config = load_config(args.config)
        parsers, scenarios, postoverflows = _tree_files(config.config_dir)
        if not parsers:
            raise ConfigError(
                "no parsers installed in the config directory; use --parsers DIR or "
                "--hub DIR --items a/b,c/d", file=config.config_dir)
        patterns_dir = patterns_dir or config.pattern_dir
        data_dir = data_dir or config.data_dir
    if patterns_dir is None:
        from crowdsec_mp.config import BUILTIN_CONFIG_DIR

        patterns_dir = BUILTIN_CONFIG_DIR / "patterns"
    return parsers, scenarios, postoverflows, patterns_dir, data_dir


# -- explaining -----------------------------------------------------------------------


def _text(value):
    if hasattr(value, "isoformat"):
        from crowdsec_mp.engine.event import is_zero_time

        return "" if is_zero_time(value) else value.isoformat()
    return value if isinstance(value, str) else json.dumps(value, default=str)


def event_changes(before, after) -> list[dict]:
    """Field-level differences between two event snapshots, in display order."""
    changes = []
    for name in SCALAR_FIELDS:
        old, new = getattr(before, name), getattr(after, name)
        if old != new:
            changes.append({"op": "update", "field": f"evt.{name}", "old": _text(old), "new": _text(new)})
    for name in MAP_FIELDS:
        old_map, new_map = getattr(before, name) or {}, getattr(after, name) or {}
        for key in sorted(set(old_map) | set(new_map)):
            field = f"evt.{name}.{key}"
            if key not in old_map:
                changes.append({"op": "create", "field": field, "old": None, "new": _text(new_map[key])})
            elif key not in new_map:
                changes.append({"op": "delete", "field": field, "old": _text(old_map[key]), "new": None})
            elif old_map[key] != new_map[key]:
                changes.append({"op": "update", "field": field, "old": _text(old_map[key]),
                                "new": _text(new_map[key])})
    return changes


def explain_line(engine, raw, *, src, labels) -> dict:
    """Run one line and describe what each top-level node did."""
    from crowdsec_mp.engine.event import TIMEMACHINE, new_log_event

    text = engine.decode_line(raw)
    if text is None:
        return {"line": raw if isinstance(raw, str) else raw.decode("utf-8", "replace"),
                "dropped": "line too long", "stages": [], "parsed": False, "whitelisted": False,
                "scenarios": [], "overflows": []}
    evt = new_log_event(text, src=src, labels=labels, module="file", expect_mode=TIMEMACHINE,
                        acquired_at=engine.ctx.now())
    # What Parse does first (stage, time), so the first node's diff shows only its own work.
    if engine.parsers.stages:
        evt.Stage = engine.parsers.stages[0]
    evt.Time = engine.ctx.now()
    steps = []
    previous = [evt.copy()]

    def recorder(stage, node_name, snapshot, success):
        steps.append({"stage": stage, "name": node_name, "success": bool(success),
                      "changes": event_changes(previous[0], snapshot)})
        previous[0] = snapshot

    outcome = engine.process_event(evt, recorder=recorder, overflow_recorder=lambda *a: None)
    stages = []
    for step in steps:
        if not stages or stages[-1]["stage"] != step["stage"]:
            stages.append({"stage": step["stage"], "nodes": []})
        stages[-1]["nodes"].append({k: step[k] for k in ("name", "success", "changes")})
    poured = []
    if outcome.poured:
        env = {"evt": evt}
        for scenario in engine.scenarios:
            try:
                if scenario.filter is None or scenario.filter.run(env) is True:
                    poured.append(scenario.name)
            except Exception:
                continue
    return {
        "line": text, "dropped": "", "stages": stages, "parsed": bool(evt.Process),
        "whitelisted": bool(evt.Whitelisted), "scenarios": poured,
        "overflows": [o.Overflow.Alert.GetScenario() for o in outcome.overflows],
    }


def print_human(report, out):
    print(f"line: {report['line']}", file=out)
    if report["dropped"]:
        print(f"\t└ dropped: {report['dropped']}", file=out)
        return
    for stage in report["stages"]:
        print(f"\t├ {stage['stage']}", file=out)
        nodes = stage["nodes"]
        for i, node in enumerate(nodes):
            branch = "└" if i == len(nodes) - 1 else "├"
            mark = "🟢" if node["success"] else "🔴"
            changes = node["changes"]
            created = sum(1 for c in changes if c["op"] == "create")
            updated = sum(1 for c in changes if c["op"] == "update")
            deleted = sum(1 for c in changes if c["op"] == "delete")
            summary = " ".join(s for s in (f"+{created}" if created else "", f"~{updated}" if updated else "",
                                           f"-{deleted}" if deleted else "") if s)
            print(f"\t|\t{branch} {mark} {node['name']}" + (f" ({summary})" if summary else ""), file=out)
            for change in changes:
                if change["op"] == "create":
                    detail = f"create {change['field']} : {change['new']}"
                elif change["op"] == "delete":
                    detail = f"delete {change['field']}"
                else:
                    detail = f"update {change['field']} : {change['old']} -> {change['new']}"
                print(f"\t|\t\t├ {detail}", file=out)
    if report["parsed"]:
        status = "parser success, ignored by whitelist 🟢" if report["whitelisted"] else "parser success 🟢"
    else:
        status = "parser failure 🔴"
    print(f"\t├-------- {status}", file=out)
    if report["scenarios"]:
        print("\t├ Scenarios", file=out)
        for i, name in enumerate(report["scenarios"]):
            branch = "└" if i == len(report["scenarios"]) - 1 else "├"
            print(f"\t\t{branch} 🟢 {name}", file=out)
    if report["overflows"]:
        print("\t└ Overflows: " + ", ".join(report["overflows"]), file=out)
    print(file=out)


def run_command(args) -> int:
    # Engine warnings (dropped events, skipped statics) are noise here unless --debug.
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.ERROR,
                        format="%(levelname)s %(name)s: %(message)s")
    from crowdsec_mp.engine.context import EngineContext
    from crowdsec_mp.engine.grok import PatternLibrary
    from crowdsec_mp.engine.replay import Engine

    parsers, scenarios, postoverflows, patterns_dir, data_dir = resolve_sources(args)
    ctx = EngineContext(current_year=args.year, data_dir=str(data_dir) if data_dir else None)
    engine = Engine.build(
        ctx, PatternLibrary.load([str(patterns_dir)]), parsers, scenarios, postoverflows,
        postoverflow_patterns=PatternLibrary.load([str(patterns_dir)]) if postoverflows else None,
    )
    labels = {}
    for pair in filter(None, (p.strip() for p in args.labels.split(","))):
        key, sep, value = pair.partition(":")
        if not sep:
            raise ConfigError(f"label {pair!r} must be key:value", field="--labels")
        labels[key] = value
    labels["type"] = args.type
    if args.log is not None:
        lines, src = [args.log], "explain"
    else:
        path = Path(args.file)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ConfigError(f"cannot read: {exc.strerror or exc}", file=path) from exc
        lines = [line for line in data.split(b"\n")]
        if lines and lines[-1] == b"":
            lines.pop()
        src = str(path.resolve())
    reports = []
    for raw in lines:
        if isinstance(raw, bytes):
            raw = raw[:-1] if raw.endswith(b"\r") else raw
        if not raw:
            continue
        reports.append(explain_line(engine, raw, src=src, labels=labels))
    if args.output == "json":
        print(json.dumps(reports, indent=2, default=str))
    else:
        for report in reports:
            print_human(report, sys.stdout)
    return 0
