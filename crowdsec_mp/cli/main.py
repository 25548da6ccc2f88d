"""`cscli-mp`: the management CLI. One module per noun registers its commands.

Each module in COMMAND_MODULES exposes `register(subparsers, common)` where
`common` is the parent parser carrying the global flags (-c, -o, --debug), and
sets `func(args) -> int` on the parsers it adds. `main(argv)` returns the exit
status, so tests call it directly.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from crowdsec_mp import __version__
from crowdsec_mp.config import load_config
from crowdsec_mp.errors import CrowdsecMPError

OUTPUT_FORMATS = ("human", "json", "raw")

# Order = order in `--help`.
COMMAND_MODULES = [
    "crowdsec_mp.cli.decisions",
    "crowdsec_mp.cli.alerts",
    "crowdsec_mp.cli.bouncers",
    "crowdsec_mp.cli.machines",
    "crowdsec_mp.cli.items",
    "crowdsec_mp.cli.hub",
    "crowdsec_mp.cli.simulation",
    "crowdsec_mp.cli.config_cmd",
    "crowdsec_mp.cli.hubtest",
    "crowdsec_mp.cli.explain",
    "crowdsec_mp.cli.lapi",
    "crowdsec_mp.cli.metrics",
]


def common_parser(defaults: bool) -> argparse.ArgumentParser:
    """Global flags, accepted before or after the subcommand (as cscli does).

    Only the top-level copy carries defaults: a subcommand's copy uses SUPPRESS
    so that `cscli-mp -o json hubtest run` is not reset by the subcommand.
    """
    def default(value):
        return value if defaults else argparse.SUPPRESS

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-c", "--config", default=default(None), help="path to config.yaml")
    common.add_argument(
        "-o", "--output", choices=OUTPUT_FORMATS, default=default(None),
        help="output format: human (tables), json, raw (CSV)",
    )
    common.add_argument("--debug", action="store_true", default=default(False), help="verbose logging")
    return common


def build_parser() -> argparse.ArgumentParser:
    common = common_parser(defaults=False)
    parser = argparse.ArgumentParser(
        prog="cscli-mp", parents=[common_parser(defaults=True)],
        description="Manage crowdsec_mp: decisions, alerts, bouncers, machines, hub items, tests.",
    )
    parser.add_argument("--version", action="version", version=f"cscli-mp {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers, common)
    return parser


def configured_output(config_path) -> str:
    """`cscli.output` of config.yaml, the default for -o (as cscli does).

    A missing or broken config is not an error here: the command that needs
    the config reports it; commands that don't (hubtest, explain) still run.
    """
    try:
        value = load_config(config_path).section("cscli").get("output")
    except CrowdsecMPError:
        return "human"
    return value if value in OUTPUT_FORMATS else "human"


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 1
    if args.output is None:
        args.output = configured_output(args.config)
    try:
        return int(args.func(args) or 0)
    except CrowdsecMPError as exc:
        # cscli's shape (spec/cli.md §1): `Error: cscli <command>: <message>`.
        print(f"Error: cscli-mp {args.command}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
