"""`cscli-mp metrics [show [SECTION...]] | metrics list` (spec/cli.md §2.9).

Scrapes the daemon's Prometheus endpoint (`prometheus.listen_addr` /
`listen_port` from config.yaml, or `--url`) and groups CrowdSec's metric
names into the tables cscli prints:
  acquisition  cs_lineread_total, cs_parser_hits_ok_total, cs_parser_hits_ko_total,
               cs_bucket_poured_total (per `source`)
  parsers      cs_node_hits_total, cs_node_hits_ok_total, cs_node_hits_ko_total (per `name`)
  scenarios    cs_buckets, cs_bucket_overflowed_total, cs_bucket_created_total,
               cs_bucket_poured_total, cs_bucket_underflowed_total (per `name`)
  lapi         cs_lapi_route_requests_total (per `route`, `method`)
Metrics a daemon does not export simply leave their cells at `-`; empty
sections are not printed.
"""

from __future__ import annotations

import argparse
import sys

import requests
import yaml
from prometheus_client.parser import text_string_to_metric_families

from crowdsec_mp.cli.decisions import InputError
from crowdsec_mp.cli.render import json_text, table_text
from crowdsec_mp.config import load_config
from crowdsec_mp.errors import CrowdsecMPError

TIMEOUT = 5.0


class MetricsUnavailable(CrowdsecMPError):
    """The daemon's Prometheus endpoint could not be read."""


#: section -> (title, key label, [(column, json key, sample name)]).
SECTIONS = {
    "acquisition": ("Acquisition Metrics", "Source", "source", [
        ("Lines read", "reads", "cs_lineread_total"),
        ("Lines parsed", "parsed", "cs_parser_hits_ok_total"),
        ("Lines unparsed", "unparsed", "cs_parser_hits_ko_total"),
        ("Lines poured to bucket", "pour", "cs_bucket_poured_total"),
    ]),
    "parsers": ("Parser Metrics", "Parsers", "name", [
        ("Hits", "hits", "cs_node_hits_total"),
        ("Parsed", "parsed", "cs_node_hits_ok_total"),
        ("Unparsed", "unparsed", "cs_node_hits_ko_total"),
    ]),
    "scenarios": ("Scenario Metrics", "Scenario", "name", [
        ("Current Count", "curr_count", "cs_buckets"),
        ("Overflows", "overflow", "cs_bucket_overflowed_total"),
        ("Instantiated", "instantiation", "cs_bucket_created_total"),
        ("Poured", "pour", "cs_bucket_poured_total"),
        ("Expired", "underflow", "cs_bucket_underflowed_total"),
    ]),
}
LAPI_SAMPLE = "cs_lapi_route_requests_total"
SECTION_NAMES = list(SECTIONS) + ["lapi"]

_UNITS = ((1_000_000_000_000_000_000, "E"), (1_000_000_000_000_000, "P"), (1_000_000_000_000, "T"),
          (1_000_000_000, "G"), (1_000_000, "M"), (1_000, "k"))


def format_number(value: float, with_unit: bool) -> str:
    """`1234` → `1.23k` (cscli's display), or the plain integer with --no-unit."""
    number = int(value)
    if with_unit:
        for size, unit in _UNITS:
            if number >= size:
                return f"{round(number / size, 2):.2f}{unit}"
    return str(number)


def metrics_url(args) -> str:
    if args.url:
        return args.url
    config = load_config(args.config)
    prometheus = config.section("prometheus")
    if prometheus.get("enabled") is False:
        raise MetricsUnavailable(
            f"prometheus is disabled in {config.path} (prometheus.enabled: false): no metrics to show"
        )
    addr = str(prometheus.get("listen_addr") or "127.0.0.1")
    port = prometheus.get("listen_port") or 6060
    host = f"[{addr}]" if ":" in addr else addr
    return f"http://{host}:{port}/metrics"


def scrape(url: str) -> list:
    """Every sample of the endpoint as (name, labels, value)."""
    try:
        response = requests.get(url, timeout=TIMEOUT)
    except requests.RequestException as exc:
        reason = "connection refused" if isinstance(exc, requests.ConnectionError) else exc.__class__.__name__
        raise MetricsUnavailable(
            f"cannot reach the crowdsec-mp daemon's metrics at {url}: {reason} "
            "(is the daemon running with prometheus enabled?)"
        ) from None
    if response.status_code != 200:
        raise MetricsUnavailable(f"metrics endpoint {url} answered HTTP {response.status_code}")
    try:
        families = list(text_string_to_metric_families(response.text))
    except ValueError as exc:
        raise MetricsUnavailable(f"{url} did not return Prometheus metrics: {exc}") from None
    return [(s.name, s.labels, s.value) for family in families for s in family.samples]


def aggregate(samples: list) -> dict:
    """`{section: {key: {json key: value}}}`; lapi is `{route: {method: hits}}`."""
    result = {name: {} for name in SECTION_NAMES}
    for section, (_title, _column, label, columns) in SECTIONS.items():
        for _column_title, json_key, sample_name in columns:
            for name, labels, value in samples:
                if name != sample_name or label not in labels:
                    continue
                entry = result[section].setdefault(labels[label], {})
                entry[json_key] = entry.get(json_key, 0) + int(value)
    for name, labels, value in samples:
        if name == LAPI_SAMPLE:
            route = result["lapi"].setdefault(labels.get("route", ""), {})
            method = labels.get("method", "")
            route[method] = route.get(method, 0) + int(value)
    return result


def section_table(section: str, data: dict, with_unit: bool) -> str:
    if section == "lapi":
        rows = [[route, method, format_number(hits, with_unit)]
                for route, methods in sorted(data.items()) for method, hits in sorted(methods.items())]
        return "Local API Metrics:\n" + table_text(["Route", "Method", "Hits"], rows)
    title, key_column, _label, columns = SECTIONS[section]
    rows = []
    for key, values in sorted(data.items()):
        rows.append([key] + [format_number(values[json_key], with_unit) if json_key in values else "-"
                             for _c, json_key, _s in columns])
    return f"{title}:\n" + table_text([key_column] + [c[0] for c in columns], rows)


def show(args, sections: list[str]) -> int:
    unknown = [s for s in sections if s not in SECTION_NAMES]
    if unknown:
        raise InputError(f"unknown metrics section '{unknown[0]}' (known: {', '.join(SECTION_NAMES)})")
    sections = sections or SECTION_NAMES
    data = aggregate(scrape(metrics_url(args)))
    selected = {name: data[name] for name in sections}
    if args.output == "json":
        sys.stdout.write(json_text(selected))
    elif args.output == "raw":
        sys.stdout.write(yaml.safe_dump(selected, sort_keys=False))
    else:
        tables = [section_table(name, selected[name], not args.no_unit) for name in sections if selected[name]]
        sys.stdout.write("\n".join(tables) if tables else "No metrics recorded yet by the daemon.\n")
    return 0


def cmd_show(args) -> int:
    return show(args, getattr(args, "sections", None) or [])


def cmd_list(args) -> int:
    descriptions = {
        "acquisition": "lines read, parsed and unparsed per datasource",
        "parsers": "hits, parsed and unparsed per parser node",
        "scenarios": "buckets current, overflowed, instantiated, poured, expired per scenario",
        "lapi": "Local API requests per route and method",
    }
    if args.output == "json":
        sys.stdout.write(json_text([{"type": k, "description": v} for k, v in descriptions.items()]))
    else:
        sys.stdout.write(table_text(["Type", "Description"], [[k, v] for k, v in descriptions.items()]))
    return 0


def register(subparsers, common):
    def add_scrape_flags(parser, default_url=None, default_no_unit=False):
        parser.add_argument("-u", "--url", default=default_url,
                            help="Prometheus endpoint (default from config prometheus.*)")
        parser.add_argument("--no-unit", action="store_true", default=default_no_unit,
                            help="show plain numbers, not 1.23k")

    parser = subparsers.add_parser("metrics", parents=[common], help="show the daemon's metrics")
    add_scrape_flags(parser)
    parser.set_defaults(func=cmd_show)
    sub = parser.add_subparsers(dest="action", metavar="ACTION")
    show_parser = sub.add_parser("show", parents=[common], help="show some sections (default: all)")
    show_parser.add_argument("sections", nargs="*", metavar="SECTION", help=", ".join(SECTION_NAMES))
    # SUPPRESS: `metrics -u URL show` keeps the URL given before `show`.
    add_scrape_flags(show_parser, argparse.SUPPRESS, argparse.SUPPRESS)
    show_parser.set_defaults(func=cmd_show)
    list_parser = sub.add_parser("list", parents=[common], help="list the sections")
    list_parser.set_defaults(func=cmd_list)
