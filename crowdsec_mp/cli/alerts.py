"""`cscli-mp alerts list|inspect|delete|flush` (spec/cli.md §2.2).

list/inspect/delete go through the LAPI (`/v1/alerts`); `flush` runs the
retention pass directly on the database, as cscli does.
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter

import yaml

from crowdsec_mp.api import admin
from crowdsec_mp.api.durations import parse_duration
from crowdsec_mp.api.flush import flush_once
from crowdsec_mp.api.settings import ApiSettings
from crowdsec_mp.cli.apiclient import ApiError, client_from_args
from crowdsec_mp.cli.decisions import InputError, as_text, check_duration, check_ip, check_range
from crowdsec_mp.cli.render import cell_text, info, json_text, render, table_text
from crowdsec_mp.config import load_config

LIST_HEADERS = ["ID", "value", "reason", "country", "as", "decisions", "created_at", "kind"]
LIST_RAW_HEADERS = ["id", "scope", "value", "reason", "country", "as", "decisions", "created_at", "kind"]


def filter_params(args) -> dict:
    """Filters shared by list and delete, validated before any request."""
    params = {}
    if getattr(args, "ip", None):
        params["ip"] = check_ip(args.ip)
    if getattr(args, "range", None):
        params["range"] = check_range(args.range)
    for flag in ("scope", "value", "scenario"):
        if getattr(args, flag, None):
            params[flag] = getattr(args, flag)
    if getattr(args, "contained", False):
        params["contains"] = "false"
    return params


def display_value(alert: dict) -> str:
    """`Scope:Value`, or `Scope (N <scope>s)` when the alert carries several decisions."""
    source = alert.get("source") or {}
    scope = source.get("scope", "")
    decisions = alert.get("decisions") or []
    if len(decisions) > 1:
        return f"{scope} ({len(decisions)} {scope.lower()}s)"
    value = source.get("value", "")
    return f"{scope}:{value}" if value else scope


def decisions_summary(alert: dict) -> str:
    """`type:count` pairs sorted, simulated ones prefixed `(simul)`."""
    counts = Counter(
        ("(simul)" if decision.get("simulated") else "") + str(decision.get("type", ""))
        for decision in alert.get("decisions") or []
    )
    return " ".join(f"{kind}:{count}" for kind, count in sorted(counts.items()))


def cmd_list(args) -> int:
    if args.limit < 0:
        raise InputError("--limit must be >= 0 (0 = no limit)")
    params = filter_params(args)
    params["limit"] = str(args.limit)
    params["include_capi"] = "true" if args.all else "false"
    if args.since:
        params["since"] = check_duration(args.since, "--since")
    if args.until:
        params["until"] = check_duration(args.until, "--until")
    for flag, param in (("type", "decision_type"), ("origin", "origin"), ("kind", "kind")):
        if getattr(args, flag):
            params[param] = getattr(args, flag)
    alerts = client_from_args(args).request("GET", "v1/alerts", params=params) or []
    rows, raw_rows = [], []
    for alert in alerts:
        source = alert.get("source") or {}
        common = [source.get("cn", ""), as_text(source), decisions_summary(alert), alert.get("start_at", ""),
                  alert.get("kind", "")]
        row = [alert.get("id"), display_value(alert), alert.get("scenario", "")] + common
        raw = [alert.get("id"), source.get("scope", ""), source.get("value", ""), alert.get("scenario", "")] + common
        if args.machine:
            row.append(alert.get("machine_id", ""))
            raw.append(alert.get("machine_id", ""))
        rows.append(row)
        raw_rows.append(raw)
    headers = LIST_HEADERS + (["machine"] if args.machine else [])
    raw_headers = LIST_RAW_HEADERS + (["machine"] if args.machine else [])
    render(args.output, headers=headers, rows=rows, data=alerts, raw_headers=raw_headers, raw_rows=raw_rows,
           empty_message="No active alerts")
    return 0


# -- inspect ------------------------------------------------------------------------


def context_rows(alert: dict) -> list:
    """One `Key | Value` row per value: alert meta values are JSON-encoded lists."""
    rows = []
    for item in alert.get("meta") or []:
        try:
            values = json.loads(item.get("value", ""))
        except ValueError:
            values = item.get("value", "")
        for value in values if isinstance(values, list) else [values]:
            rows.append([item.get("key", ""), value])
    return rows


def alert_text(alert: dict, details: bool) -> str:
    source = alert.get("source") or {}
    fields = [
        ("ID", alert.get("id")), ("Date", alert.get("created_at")), ("Machine", alert.get("machine_id")),
        ("Simulation", cell_text(bool(alert.get("simulated")))),
        ("Remediation", cell_text(bool(alert.get("remediation")))),
        ("Reason", alert.get("scenario")), ("Events Count", alert.get("events_count")),
        ("Scope:Value", f"{source.get('scope', '')}:{source.get('value', '')}"),
        ("Country", source.get("cn", "")), ("AS", as_text(source)),
        ("Begin", alert.get("start_at")), ("End", alert.get("stop_at")), ("UUID", alert.get("uuid", "")),
    ]
    width = max(len(name) for name, _ in fields)
    lines = ["", "#" * 96, ""]
    lines += [f" - {name.ljust(width)} : {'' if value is None else value}".rstrip()
              for name, value in fields]
    lines.append("")
    text = "\n".join(lines) + "\n"
    context = context_rows(alert)
    if context:
        text += " - Context  :\n" + table_text(["Key", "Value"], context) + "\n"
    decisions = alert.get("decisions") or []
    text += " - Decisions:\n"
    if decisions:
        text += table_text(
            ["ID", "scope:value", "action", "expiration", "created_at"],
            [[d.get("id"), f"{d.get('scope', '')}:{d.get('value', '')}", d.get("type", ""), d.get("duration", ""),
              alert.get("created_at", "")] for d in decisions],
        )
    if details:
        text += "\n - Events  :\n"
        for event in alert.get("events") or []:
            text += f"\n- Date: {event.get('timestamp', '')}\n"
            rows = [[m.get("key", ""), m.get("value", "")] for m in event.get("meta") or []]
            text += table_text(["Key", "Value"], rows) if rows else ""
    return text


def fetch_alert(client, alert_id: str) -> dict:
    if not alert_id.isdigit():
        raise InputError(f"invalid alert ID '{alert_id}': must be an integer")
    try:
        return client.request("GET", f"v1/alerts/{alert_id}")
    except ApiError as exc:
        if exc.status == 404:
            raise InputError(f"alert {alert_id} not found") from None
        raise


def cmd_inspect(args) -> int:
    for alert_id in args.alert_ids:
        if not alert_id.isdigit():
            raise InputError(f"invalid alert ID '{alert_id}': must be an integer")
    client = client_from_args(args)
    alerts = [fetch_alert(client, alert_id) for alert_id in args.alert_ids]
    for alert in alerts:
        if args.output == "json":
            sys.stdout.write(json_text(alert))
        elif args.output == "raw":
            sys.stdout.write(yaml.safe_dump(alert, sort_keys=False, allow_unicode=True))
        else:
            sys.stdout.write(alert_text(alert, args.details))
    return 0


# -- delete / flush -----------------------------------------------------------------


def cmd_delete(args) -> int:
    params = filter_params(args)
    if args.id is not None:
        if params or args.all:
            raise InputError("--id cannot be combined with other filters")
        if not args.id.isdigit():
            raise InputError(f"invalid alert ID '{args.id}': must be an integer")
        try:
            result = client_from_args(args).request("DELETE", f"v1/alerts/{args.id}")
        except ApiError as exc:
            if exc.status == 404:
                raise InputError(f"alert {args.id} not found") from None
            raise
    else:
        if not params and not args.all:
            raise InputError("at least one filter or --all must be specified")
        if params and args.all:
            raise InputError("--all cannot be combined with other filters")
        result = client_from_args(args).request("DELETE", "v1/alerts", params=params)
    info(f"{(result or {}).get('nbDeleted', '0')} alert(s) deleted")
    return 0


def cmd_flush(args) -> int:
    if args.max_items <= 0:
        raise InputError("--max-items must be a positive integer")
    try:
        max_age = parse_duration(args.max_age)
    except ValueError:
        raise InputError(f"invalid duration '{args.max_age}' for --max-age (expected e.g. 7d, 12h)") from None
    settings = ApiSettings.from_config(load_config(args.config))
    admin.connect(settings)
    settings.db.flush_max_items = args.max_items
    settings.db.flush_max_age = max_age
    deleted = flush_once(settings.db, int(time.time() * 1_000_000))
    info(f"{deleted} alert(s) flushed")
    return 0


def register(subparsers, common):
    parser = subparsers.add_parser("alerts", aliases=["alert"], parents=[common], help="manage alerts")
    parser.set_defaults(func=lambda args, p=parser: (p.print_help(), 1)[1])
    sub = parser.add_subparsers(dest="action", metavar="ACTION")

    lst = sub.add_parser("list", parents=[common], help="list alerts")
    lst.add_argument("-a", "--all", action="store_true", help="include alerts from the Central API and lists")
    lst.add_argument("--until", help="only alerts started before this duration ago (e.g. 4h)")
    lst.add_argument("--since", help="only alerts started within this duration (e.g. 4h)")
    lst.add_argument("-i", "--ip", help="alerts with a decision on this IP")
    lst.add_argument("-s", "--scenario", help="scenario name")
    lst.add_argument("-r", "--range", help="alerts with a decision on this range")
    lst.add_argument("--type", help="decision type")
    lst.add_argument("--scope", help="source scope")
    lst.add_argument("-v", "--value", help="source value")
    lst.add_argument("--origin", help="decision origin")
    lst.add_argument("--kind", help="alert kind (crowdsec, cscli...)")
    lst.add_argument("--contained", action="store_true", help="match decisions contained in --range")
    lst.add_argument("-m", "--machine", action="store_true", help="show the machine that raised the alert")
    lst.add_argument("-l", "--limit", type=int, default=50, help="number of alerts (0 = all)")
    lst.set_defaults(func=cmd_list)

    inspect = sub.add_parser("inspect", parents=[common], help="show alerts in detail")
    inspect.add_argument("alert_ids", nargs="+", metavar="ALERT_ID")
    inspect.add_argument("-d", "--details", action="store_true", help="also show the events")
    inspect.set_defaults(func=cmd_inspect)

    delete = sub.add_parser("delete", aliases=["remove"], parents=[common], help="delete alerts")
    delete.add_argument("--scope")
    delete.add_argument("-v", "--value")
    delete.add_argument("-s", "--scenario")
    delete.add_argument("-i", "--ip")
    delete.add_argument("-r", "--range")
    delete.add_argument("--id", help="alert ID")
    delete.add_argument("-a", "--all", action="store_true", help="delete every alert")
    delete.add_argument("--contained", action="store_true")
    delete.set_defaults(func=cmd_delete)

    flush = sub.add_parser("flush", parents=[common], help="apply the retention policy now (direct DB)")
    flush.add_argument("--max-items", type=int, default=5000)
    flush.add_argument("--max-age", default="7d")
    flush.set_defaults(func=cmd_flush)
