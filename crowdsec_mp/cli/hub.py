"""`cscli-mp hub list|update|upgrade|types` (spec/cli.md §2.6).

    list [-a]          installed items of every type (all hub items with -a)
    update             refresh the cached index of a hub URL (a directory hub is read live)
    upgrade [--force]  upgrade every installed hub item
    types              the item types this engine manages
"""

from __future__ import annotations

import sys

from crowdsec_mp.cli.items import print_report, state_json, utf8_status
from crowdsec_mp.cli.render import info, json_text, render
from crowdsec_mp.config import load_config
from crowdsec_mp.hub.install import Report, installer_from_config
from crowdsec_mp.hub.source import ITEM_KINDS, UrlSource


def register(subparsers, common):
    parser = subparsers.add_parser("hub", parents=[common], help="manage the hub: list, update, upgrade")
    parser.set_defaults(func=lambda args, p=parser: (p.print_help(), 1)[1])
    sub = parser.add_subparsers(dest="action", metavar="ACTION")

    def add(name, help_text, func):
        action = sub.add_parser(name, parents=[common], help=help_text)
        action.add_argument("--hub", default=None, help="hub directory or index URL (default: from config)")
        action.set_defaults(func=func)
        return action

    p = add("list", "list installed items of every type", cmd_list)
    p.add_argument("-a", "--all", action="store_true", help="also list items that are not installed")
    add("update", "download the hub index again (hub URL only)", cmd_update)
    p = add("upgrade", "upgrade every installed hub item", cmd_upgrade)
    p.add_argument("--force", action="store_true", help="overwrite tainted items")
    p.add_argument("--dry-run", action="store_true", help="show what would be done")
    add("types", "list the item types", cmd_types)


def installer_for(args):
    return installer_from_config(load_config(args.config), hub=args.hub)


def cmd_list(args) -> int:
    installer = installer_for(args)
    states = {kind: installer.states(kind, include_all=args.all) for kind in ITEM_KINDS}
    if args.output == "json":
        sys.stdout.write(json_text({kind: [state_json(s) for s in found] for kind, found in states.items()}))
        return 0
    if args.output == "raw":
        render(
            "raw", headers=["type", "name", "status", "version", "description"],
            rows=[[kind, s.name, s.status, s.version_text, s.description]
                  for kind, found in states.items() for s in found],
        )
        return 0
    info(f"Hub: {installer.source.describe()}")
    for kind, found in states.items():
        sys.stdout.write(f"{kind.upper()}\n")
        render(
            "human", headers=["Name", "📦 Status", "Version", "Local Path"],
            rows=[[s.name, utf8_status(s.status), s.version_text, str(s.local_path or "")] for s in found],
            empty_message=f"No {kind} installed",
        )
        sys.stdout.write("\n")
    return 0


def cmd_update(args) -> int:
    installer = installer_for(args)
    source = installer.source
    if isinstance(source, UrlSource):
        index = source.refresh()
        info(f"Hub index downloaded from {source.index_url} to {source.cache_path}")
        counts = {kind: len(index.get(kind, {})) for kind in ITEM_KINDS}
    else:
        # A directory hub is read directly at every command: nothing to download.
        index = source.index()
        counts = {kind: len(index.get(kind, {})) for kind in ITEM_KINDS}
        info(f"Hub directory {source.describe()} is used as is (offline); nothing to download")
    if args.output == "json":
        sys.stdout.write(json_text({"hub": source.describe(), "items": counts}))
    else:
        render(args.output, headers=["Type", "Items"], rows=[[k, v] for k, v in counts.items()],
               raw_headers=["type", "items"])
    return 0


def cmd_upgrade(args) -> int:
    installer = installer_for(args)
    report = Report()
    for kind in ITEM_KINDS:
        installer.upgrade_all(kind, force=args.force, dry_run=args.dry_run, report=report)
    print_report(args, report)
    return 0


def cmd_types(args) -> int:
    if args.output == "json":
        sys.stdout.write(json_text(list(ITEM_KINDS)))
    else:
        sys.stdout.write("\n".join(ITEM_KINDS) + "\n")
    return 0

