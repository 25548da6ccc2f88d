"""`cscli-mp parsers|scenarios|collections|postoverflows|contexts ...` (spec/cli.md §2.5).

    list [ITEM...] [-a]            installed items (every hub item with -a)
    install ITEM... [--force] [--dry-run]
    remove ITEM... [--all] [--purge] [--force] [--dry-run]
    upgrade [ITEM...] [-a] [--force] [--dry-run]
    inspect ITEM...

Every subcommand accepts `--hub DIR|URL` to use another hub than the
configured one (config_paths.hub_dir / hub_index_url).
"""

from __future__ import annotations

import sys

import yaml

from crowdsec_mp.cli.render import info, json_text, render
from crowdsec_mp.config import load_config
from crowdsec_mp.hub.install import Report, installer_from_config
from crowdsec_mp.hub.source import ITEM_KINDS, HubError

RELOAD_HINT = "Run 'scripts/stop.sh && scripts/start.sh' (or reload crowdsec-mp) for the new configuration to be effective."
STATUS_EMOJI = {"enabled": "✔️", "disabled": "🚫", "local": "🏠", "tainted": "⚠️", "update-available": "⬆️"}
KIND_ALIASES = {
    "parsers": ["parser"], "scenarios": ["scenario"], "collections": ["collection"],
    "postoverflows": ["postoverflow"], "contexts": ["context"],
}


def register(subparsers, common):
    for kind in ITEM_KINDS:
        register_kind(subparsers, common, kind)


def register_kind(subparsers, common, kind):
    parser = subparsers.add_parser(
        kind, parents=[common], aliases=KIND_ALIASES.get(kind, []),
        help=f"install, remove, upgrade and list {kind}",
    )
    parser.set_defaults(func=lambda args, p=parser: (p.print_help(), 1)[1])
    sub = parser.add_subparsers(dest="action", metavar="ACTION")

    def add(name, help_text, func, aliases=()):
        action = sub.add_parser(name, parents=[common], help=help_text, aliases=list(aliases))
        action.add_argument("--hub", default=None, help="hub directory or index URL (default: from config)")
        action.set_defaults(func=func, kind=kind)
        return action

    p = add("list", f"list installed {kind}", cmd_list)
    p.add_argument("items", nargs="*", metavar="ITEM")
    p.add_argument("-a", "--all", action="store_true", help="also list items that are not installed")

    p = add("install", f"install {kind} (and their dependencies and data files)", cmd_install)
    p.add_argument("items", nargs="+", metavar="ITEM")
    p.add_argument("--force", action="store_true", help="overwrite tainted items")
    p.add_argument("--dry-run", action="store_true", help="show what would be done")

    p = add("remove", f"remove {kind}", cmd_remove, aliases=["delete"])
    p.add_argument("items", nargs="*", metavar="ITEM")
    p.add_argument("--all", action="store_true", help=f"remove every installed hub {kind[:-1]}")
    p.add_argument("--purge", action="store_true", help="also delete data files no other item uses")
    p.add_argument("--force", action="store_true", help="remove tainted items too")
    p.add_argument("--dry-run", action="store_true", help="show what would be done")

    p = add("upgrade", f"upgrade {kind} to the hub version", cmd_upgrade)
    p.add_argument("items", nargs="*", metavar="ITEM")
    p.add_argument("-a", "--all", action="store_true", help=f"upgrade every installed {kind[:-1]}")
    p.add_argument("--force", action="store_true", help="overwrite tainted items")
    p.add_argument("--dry-run", action="store_true", help="show what would be done")

    p = add("inspect", f"show details of {kind}", cmd_inspect)
    p.add_argument("items", nargs="+", metavar="ITEM")


def installer_for(args):
    return installer_from_config(load_config(args.config), hub=getattr(args, "hub", None))


def utf8_status(status: str) -> str:
    return " ".join(STATUS_EMOJI.get(part, "") for part in status.split(",")).strip() + " " + status


def item_rows(states):
    return [[s.name, utf8_status(s.status), s.version_text, str(s.local_path or "")] for s in states]


def state_json(state) -> dict:
    return {
        "name": state.name,
        "status": state.status,
        "local_version": state.local_version or "",
        "local_path": str(state.local_path or ""),
        "description": state.description,
        "utf8_status": utf8_status(state.status),
    }


def select_states(installer, kind, names, include_all):
    states = installer.states(kind, include_all=include_all or bool(names))
    if not names:
        return states
    by_name = {s.name: s for s in states}
    missing = [n for n in names if n not in by_name]
    if missing:
        for name in missing:
            installer.entry(kind, name)  # raises a clear "can't find" / "invalid name" error
    return [by_name[n] for n in names]


def cmd_list(args) -> int:
    installer = installer_for(args)
    states = select_states(installer, args.kind, args.items, args.all)
    render(
        args.output,
        headers=["Name", "📦 Status", "Version", "Local Path"], rows=item_rows(states),
        raw_headers=["name", "status", "version", "description"],
        raw_rows=[[s.name, s.status, s.version_text, s.description] for s in states],
        data={args.kind: [state_json(s) for s in states]},
        empty_message=f"No {args.kind} installed" + ("" if args.all else " (use -a to list all hub items)"),
    )
    return 0


def print_report(args, report: Report) -> None:
    """Actions as data on stdout for json/raw; as messages on stderr for humans."""
    if args.output == "json":
        sys.stdout.write(json_text({
            "actions": [dict(zip(("action", "type", "name", "detail"), a)) for a in report.actions],
            "warnings": report.warnings,
        }))
    elif args.output == "raw":
        render("raw", headers=["action", "type", "name", "detail"], rows=report.actions)
        for warning in report.warnings:
            info(f"warning: {warning}")
    else:
        for line in report.messages():
            info(line)
    if report.changed and not getattr(args, "dry_run", False):
        info(RELOAD_HINT)


def cmd_install(args) -> int:
    installer = installer_for(args)
    for name in args.items:  # validate every name before touching anything
        installer.entry(args.kind, name)
    report = Report()
    for name in args.items:
        installer.install(args.kind, name, force=args.force, dry_run=args.dry_run, report=report)
    print_report(args, report)
    return 0


def cmd_remove(args) -> int:
    installer = installer_for(args)
    if args.all:
        names = [s.name for s in installer.states(args.kind) if not s.local]
    elif args.items:
        names = args.items
    else:
        raise HubError(f"specify at least one {args.kind[:-1]} to remove, or --all")
    report = Report()
    for name in names:
        installer.remove(args.kind, name, force=args.force, purge=args.purge, dry_run=args.dry_run, report=report)
    print_report(args, report)
    return 0


def cmd_upgrade(args) -> int:
    installer = installer_for(args)
    report = Report()
    if args.all or not args.items:
        installer.upgrade_all(args.kind, force=args.force, dry_run=args.dry_run, report=report)
    else:
        for name in args.items:
            installer.entry(args.kind, name)
        for name in args.items:
            installer.upgrade(args.kind, name, force=args.force, dry_run=args.dry_run, report=report)
    print_report(args, report)
    return 0


def inspect_data(installer, kind, name) -> dict:
    state = installer.state(kind, name)
    data = {"type": kind, "name": name}
    if not state.local:
        entry = installer.entry(kind, name)
        for key, value in entry.items():
            if key not in ("content", "long_description"):
                data[key] = value
    data.update({
        "status": state.status,
        "installed": state.installed,
        "local": state.local,
        "tainted": state.tainted,
        "local_version": state.local_version or "",
        "local_path": str(state.local_path or ""),
        "up_to_date": state.installed and not state.outdated and not state.tainted,
    })
    return data


def cmd_inspect(args) -> int:
    installer = installer_for(args)
    documents = [inspect_data(installer, args.kind, name) for name in args.items]
    if args.output == "json":
        sys.stdout.write(json_text(documents if len(documents) > 1 else documents[0]))
    else:
        sys.stdout.write(yaml.safe_dump_all(documents, sort_keys=False, allow_unicode=True))
    return 0
