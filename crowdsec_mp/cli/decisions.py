"""`cscli-mp decisions list|add|delete|import` (spec/cli.md §2.1), through the LAPI.

Decisions are read from `GET /v1/alerts` (each alert carries its decisions),
added as one `cscli` alert per `add`, imported as `cscli-import` alerts, and
deleted with `DELETE /v1/decisions`. Bad input (IP, range, duration) is
rejected here, before any request, with the message cscli prints.
"""

from __future__ import annotations

import csv
import io
import ipaddress
import json
import sys
from datetime import datetime, timezone
from pathlib import Path

from crowdsec_mp.api.durations import parse_duration
from crowdsec_mp.cli.apiclient import client_from_args
from crowdsec_mp.cli.render import info, render
from crowdsec_mp.errors import CrowdsecMPError


class InputError(CrowdsecMPError):
    """A command-line value is invalid; nothing was sent."""


# -- local validation (shared with alerts.py) ---------------------------------------


def check_ip(text: str) -> str:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        raise InputError(f"{text} is not a valid ip") from None
    return text


def check_range(text: str) -> str:
    try:
        if "/" not in text:
            raise ValueError
        ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise InputError(f"{text} is not a valid range") from None
    return text


def check_duration(text: str, flag: str) -> str:
    """A Go duration with optional days (`4h`, `7d`, `1d12h`), else InputError."""
    try:
        parse_duration(text)
    except ValueError:
        raise InputError(f"invalid duration '{text}' for {flag} (expected e.g. 4h, 30m, 7d)") from None
    return text


def normalize_scope(scope: str) -> str:
    """`ip`→`Ip`, `range`→`Range`, `country`→`Country`, `as`→`AS`; others as given."""
    known = {"ip": "Ip", "range": "Range", "country": "Country", "as": "AS"}
    return known.get(scope.lower(), scope)


def now_rfc3339() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def as_text(source: dict) -> str:
    """The AS column: `<number> <name>`, empty when unknown."""
    return " ".join(p for p in (str(source.get("as_number") or ""), source.get("as_name") or "") if p)


# -- list ---------------------------------------------------------------------------


def list_params(args) -> dict:
    """Query parameters of `GET /v1/alerts` for `decisions list` flags."""
    if args.limit < 0:
        raise InputError("--limit must be >= 0 (0 = no limit)")
    params = {"has_active_decision": "true", "include_capi": "false", "limit": str(args.limit)}
    if args.all:
        params["include_capi"] = "true"
        params["limit"] = "0"
    if args.ip:
        params["ip"] = check_ip(args.ip)
    if args.range:
        params["range"] = check_range(args.range)
    if args.since:
        params["since"] = check_duration(args.since, "--since")
    if args.until:
        params["until"] = check_duration(args.until, "--until")
    for flag, param in (("type", "decision_type"), ("scope", "scope"), ("origin", "origin"),
                        ("value", "value"), ("scenario", "scenario")):
        if getattr(args, flag):
            params[param] = getattr(args, flag)
    if args.contained:
        params["contains"] = "false"
    if args.no_simu:
        params["simulated"] = "false"
    return params


def decision_rows(alerts: list, with_machine: bool) -> tuple[list, list, int]:
    """(table rows, CSV rows, duplicates skipped) for a list of alerts.

    A decision repeating (simulated, type, scope, value) of one already shown
    is skipped, as cscli does, so one line per effective ban remains.
    """
    seen = set()
    skipped = 0
    rows, raw_rows = [], []
    for alert in alerts:
        source = alert.get("source") or {}
        simulated = bool(alert.get("simulated"))
        for decision in alert.get("decisions") or []:
            key = (simulated, decision.get("type"), decision.get("scope"), decision.get("value"))
            if key in seen:
                skipped += 1
                continue
            seen.add(key)
            action = ("(simul)" if simulated else "") + str(decision.get("type", ""))
            scope_value = f"{decision.get('scope', '')}:{decision.get('value', '')}"
            common = [decision.get("id"), decision.get("origin", ""), scope_value, decision.get("scenario", "")]
            tail = [source.get("cn", ""), as_text(source), alert.get("events_count", 0), decision.get("duration", "")]
            row = common + [action] + tail + [alert.get("id")]
            raw = common + [decision.get("type", "")] + tail + [simulated, alert.get("id")]
            if with_machine:
                row.append(alert.get("machine_id", ""))
                raw.append(alert.get("machine_id", ""))
            rows.append(row)
            raw_rows.append(raw)
    return rows, raw_rows, skipped


LIST_HEADERS = ["ID", "Source", "Scope:Value", "Reason", "Action", "Country", "AS", "Events", "expiration", "Alert ID"]
LIST_RAW_HEADERS = ["id", "source", "ip", "reason", "action", "country", "as", "events_count", "expiration",
                    "simulated", "alert_id"]


def cmd_list(args) -> int:
    params = list_params(args)
    alerts = client_from_args(args).request("GET", "v1/alerts", params=params) or []
    rows, raw_rows, skipped = decision_rows(alerts, args.machine)
    headers = LIST_HEADERS + (["Machine"] if args.machine else [])
    raw_headers = LIST_RAW_HEADERS + (["machine"] if args.machine else [])
    render(args.output, headers=headers, rows=rows, data=alerts, raw_headers=raw_headers, raw_rows=raw_rows,
           empty_message="No active decisions")
    if skipped and args.output == "human":
        sys.stdout.write(f"{skipped} duplicated entries skipped\n")
    return 0


# -- add ----------------------------------------------------------------------------


def manual_alert(*, scope: str, value: str, duration: str, type_: str, reason: str) -> dict:
    """The alert `decisions add` posts (spec alerts.md §6, origin `cscli`)."""
    now = now_rfc3339()
    source = {"scope": scope, "value": value}
    if scope == "Ip":
        source["ip"] = value
    elif scope == "Range":
        source["range"] = value
    return {
        "scenario": reason, "message": reason, "scenario_hash": "", "scenario_version": "",
        "capacity": 0, "leakspeed": "0", "events_count": 1, "events": [],
        "start_at": now, "stop_at": now, "simulated": False, "remediation": True, "kind": "cscli",
        "source": source,
        "decisions": [{"origin": "cscli", "type": type_, "scope": scope, "value": value,
                       "duration": duration, "scenario": reason}],
    }


def cmd_add(args) -> int:
    if args.ip:
        scope, value = "Ip", check_ip(args.ip)
    elif args.range:
        scope, value = "Range", check_range(args.range)
    elif args.value:
        scope, value = normalize_scope(args.scope), args.value
        if scope == "Ip":
            check_ip(value)
        elif scope == "Range":
            check_range(value)
    else:
        raise InputError("missing arguments, a value is required (--ip, --range or --value)")
    check_duration(args.duration, "--duration")
    client = client_from_args(args)
    reason = args.reason or f"manual '{args.type}' from '{client.login_name}'"
    alert = manual_alert(scope=scope, value=value, duration=args.duration, type_=args.type, reason=reason)
    client.request("POST", "v1/alerts", json_body=[alert])
    info("Decision successfully added")
    return 0


# -- delete -------------------------------------------------------------------------


def cmd_delete(args) -> int:
    if args.id is not None:
        if args.all or any((args.ip, args.range, args.type, args.value, args.scenario, args.origin)):
            raise InputError("--id cannot be combined with other filters")
        if not args.id.isdigit():
            raise InputError(f"invalid decision ID '{args.id}': must be an integer")
        result = client_from_args(args).request("DELETE", f"v1/decisions/{args.id}")
    else:
        params = {}
        if args.ip:
            params["ip"] = check_ip(args.ip)
        if args.range:
            params["range"] = check_range(args.range)
        for flag in ("type", "value", "scenario", "origin"):
            if getattr(args, flag):
                params[flag] = getattr(args, flag)
        if not params and not args.all:
            raise InputError("at least one filter or --all must be specified")
        if params and args.all:
            raise InputError("--all cannot be combined with other filters")
        if args.contained:
            params["contains"] = "false"
        result = client_from_args(args).request("DELETE", "v1/decisions", params=params)
    deleted = (result or {}).get("nbDeleted", "0")
    info(f"{deleted} decision(s) deleted")
    return 0


# -- import -------------------------------------------------------------------------

IMPORT_FIELDS = ("value", "duration", "scope", "reason", "type", "origin")


def read_import(text: str, fmt: str, source_name: str) -> list[dict]:
    """Decision dicts (keys among IMPORT_FIELDS) from values / json / csv text."""
    if fmt == "values":
        return [{"value": line.strip()} for line in text.splitlines() if line.strip()]
    if fmt == "json":
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise InputError(f"{source_name}: invalid JSON: {exc}") from None
        if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
            raise InputError(f"{source_name}: JSON input must be a list of objects with a 'value' field")
        return data
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames or "value" not in reader.fieldnames:
        raise InputError(f"{source_name}: CSV input needs a header line with a 'value' column")
    return [dict(row) for row in reader]


def guess_format(path: str, fmt: str | None) -> str:
    if fmt:
        return fmt
    suffix = Path(path).suffix.lower()
    if suffix in (".json", ".csv"):
        return suffix[1:]
    if suffix == ".txt":
        return "values"
    raise InputError("unable to guess the format from the file extension, please provide it with --format")


def import_decisions(items: list[dict], args) -> list[dict]:
    decisions = []
    for index, item in enumerate(items, start=1):
        value = str(item.get("value") or "").strip()
        if not value:
            raise InputError(f"item {index}: missing 'value'")
        scope = normalize_scope(str(item.get("scope") or args.scope))
        if scope == "Ip":
            try:
                ipaddress.ip_address(value)
            except ValueError:
                raise InputError(f"invalid ip address '{value}'") from None
        elif scope == "Range":
            try:
                ipaddress.ip_network(value, strict=False)
            except ValueError:
                raise InputError(f"invalid ip address '{value}'") from None
        duration = str(item.get("duration") or args.duration)
        check_duration(duration, f"item {index} duration")
        decisions.append({
            "origin": "cscli-import", "type": str(item.get("type") or args.type), "scope": scope,
            "value": value, "duration": duration, "scenario": str(item.get("reason") or args.reason),
        })
    return decisions


def import_alert(decisions: list[dict], input_name: str) -> dict:
    now = now_rfc3339()
    return {
        "scenario": f"import {input_name}: {len(decisions)} IPs", "message": "", "scenario_hash": "",
        "scenario_version": "", "capacity": 0, "leakspeed": "0", "events_count": 0, "events": [],
        "start_at": now, "stop_at": now, "simulated": False, "kind": "cscli",
        "source": {"scope": "cscli-import", "value": ""}, "decisions": decisions,
    }


def cmd_import(args) -> int:
    if args.batch < 0:
        raise InputError("--batch must be >= 0")
    check_duration(args.duration, "--duration")
    if args.input == "-":
        if not args.format:
            raise InputError("reading from stdin needs --format (values, json or csv)")
        text, fmt, input_name = sys.stdin.read(), args.format, "stdin"
    else:
        fmt = guess_format(args.input, args.format)
        try:
            text = Path(args.input).read_text(encoding="utf-8")
        except OSError as exc:
            raise InputError(f"cannot read {args.input}: {exc.strerror or exc}") from None
        input_name = args.input
    decisions = import_decisions(read_import(text, fmt, input_name), args)
    if not decisions:
        info("No decisions to import")
        return 0
    client = client_from_args(args)
    size = args.batch or len(decisions)
    for start in range(0, len(decisions), size):
        batch = decisions[start:start + size]
        client.request("POST", "v1/alerts", json_body=[import_alert(batch, input_name)])
    info(f"Imported {len(decisions)} decisions")
    return 0


# -- parsers ------------------------------------------------------------------------


def register(subparsers, common):
    parser = subparsers.add_parser("decisions", aliases=["decision"], parents=[common],
                                   help="manage decisions through the Local API")
    parser.set_defaults(func=lambda args, p=parser: (p.print_help(), 1)[1])
    sub = parser.add_subparsers(dest="action", metavar="ACTION")

    lst = sub.add_parser("list", parents=[common], help="list active decisions")
    lst.add_argument("-a", "--all", action="store_true", help="include decisions from the Central API and lists")
    lst.add_argument("--since", help="only decisions of alerts newer than this duration (e.g. 4h, 30d)")
    lst.add_argument("--until", help="only decisions of alerts older than this duration")
    lst.add_argument("-t", "--type", help="decision type (ban, captcha...)")
    lst.add_argument("--scope", help="decision scope (ip, range, country...)")
    lst.add_argument("--origin", help="decision origin (cscli, crowdsec, CAPI, lists...)")
    lst.add_argument("-v", "--value", help="decision value")
    lst.add_argument("-s", "--scenario", help="scenario name")
    lst.add_argument("-i", "--ip", help="decisions for this IP")
    lst.add_argument("-r", "--range", help="decisions for this range")
    lst.add_argument("-l", "--limit", type=int, default=100, help="number of alerts to read (0 = all)")
    lst.add_argument("--no-simu", action="store_true", help="exclude simulated decisions")
    lst.add_argument("-m", "--machine", action="store_true", help="show the machine that raised the alert")
    lst.add_argument("--contained", action="store_true", help="match decisions contained in --range")
    lst.set_defaults(func=cmd_list)

    add = sub.add_parser("add", parents=[common], help="add a decision")
    add.add_argument("-i", "--ip", help="IP address")
    add.add_argument("-r", "--range", help="range (CIDR)")
    add.add_argument("-d", "--duration", default="4h", help="decision duration (default 4h)")
    add.add_argument("-v", "--value", help="value for a custom --scope")
    add.add_argument("--scope", default="Ip", help="decision scope (default Ip)")
    add.add_argument("-R", "--reason", help="decision reason (default: manual '<type>' from '<login>')")
    add.add_argument("-t", "--type", default="ban", help="decision type (default ban)")
    add.add_argument("-B", "--bypass-allowlist", action="store_true",
                     help="accepted for compatibility: our Local API has no allowlists")
    add.set_defaults(func=cmd_add)

    delete = sub.add_parser("delete", aliases=["remove"], parents=[common], help="delete decisions")
    delete.add_argument("-i", "--ip")
    delete.add_argument("-r", "--range")
    delete.add_argument("-t", "--type")
    delete.add_argument("-v", "--value")
    delete.add_argument("-s", "--scenario")
    delete.add_argument("--origin")
    delete.add_argument("--id", help="decision ID")
    delete.add_argument("--all", action="store_true", help="delete every active decision")
    delete.add_argument("--contained", action="store_true", help="match decisions contained in --range")
    delete.set_defaults(func=cmd_delete)

    imp = sub.add_parser("import", parents=[common], help="import decisions from a file or stdin")
    imp.add_argument("-i", "--input", required=True, help="input file, or - for stdin")
    imp.add_argument("--format", choices=["values", "json", "csv"], help="input format (default: from the extension)")
    imp.add_argument("--duration", default="4h")
    imp.add_argument("--scope", default="ip")
    imp.add_argument("--reason", default="manual")
    imp.add_argument("--type", default="ban")
    imp.add_argument("--batch", type=int, default=0, help="decisions per alert (0 = one alert)")
    imp.set_defaults(func=cmd_import)

