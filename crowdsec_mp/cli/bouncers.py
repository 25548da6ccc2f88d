"""`cscli-mp bouncers add|list|inspect|delete|prune` (spec/cli.md §2.3).

Like cscli, these work directly on the database named by `db_config` (no
LAPI needed), through crowdsec_mp.api.admin. An API key is printed once at
creation: only its hash is stored.
"""

from __future__ import annotations

import sys
import time

from crowdsec_mp.api import admin
from crowdsec_mp.api.durations import format_duration, parse_duration
from crowdsec_mp.api.timefmt import rfc3339_seconds
from crowdsec_mp.cli.decisions import InputError
from crowdsec_mp.cli.render import info, json_text, render
from crowdsec_mp.config import load_config

US = 1_000_000
VALID_MARK = "\u2714\ufe0f"   # ✔️
REVOKED_MARK = "\U0001f6ab"   # 🚫


def connect(args) -> None:
    admin.connect(load_config(args.config))


def bouncer_json(row: dict) -> dict:
    """One bouncer as `bouncers list -o json` prints it (times RFC3339, no key hash)."""
    return {
        "created_at": rfc3339_seconds(row.get("created_at")),
        "name": row["name"],
        "revoked": bool(row["revoked"]),
        "ip_address": row["ip_address"],
        "type": row["type"],
        "version": row["version"],
        "last_pull": rfc3339_seconds(row["last_pull"]) if row["last_pull"] else None,
        "auth_type": row["auth_type"],
        "auto_created": bool(row["auto_created"]),
    }


def cmd_add(args) -> int:
    connect(args)
    key = admin.add_bouncer(args.name, args.key)
    if args.output == "json":
        sys.stdout.write(json_text(key))
    elif args.output == "raw":
        sys.stdout.write(key + "\n")
    else:
        sys.stdout.write(
            f"API key for '{args.name}':\n\n   {key}\n\n"
            "Please keep this key since you will not be able to retrieve it!\n"
        )
    return 0


def cmd_list(args) -> int:
    connect(args)
    bouncers = admin.list_bouncers()
    rows = [
        [b["name"], b["ip_address"], REVOKED_MARK if b["revoked"] else VALID_MARK,
         rfc3339_seconds(b["last_pull"]) if b["last_pull"] else "", b["type"], b["version"], b["auth_type"]]
        for b in bouncers
    ]
    raw_rows = [
        [b["name"], b["ip_address"], "pending" if b["revoked"] else "validated",
         rfc3339_seconds(b["last_pull"]) if b["last_pull"] else "", b["type"], b["version"], b["auth_type"]]
        for b in bouncers
    ]
    render(
        args.output,
        headers=["Name", "IP Address", "Valid", "Last API pull", "Type", "Version", "Auth Type"], rows=rows,
        raw_headers=["name", "ip", "revoked", "last_pull", "type", "version", "auth_type"], raw_rows=raw_rows,
        data=[bouncer_json(b) for b in bouncers],
    )
    return 0


def find_bouncer(name: str) -> dict:
    for bouncer in admin.list_bouncers():
        if bouncer["name"] == name:
            return bouncer
    raise InputError(f"bouncer '{name}' does not exist")


def cmd_inspect(args) -> int:
    connect(args)
    bouncer = bouncer_json(find_bouncer(args.name))
    if args.output == "human":
        render("human", headers=["Field", "Value"], rows=[[k, v] for k, v in bouncer.items()])
    else:
        sys.stdout.write(json_text(bouncer))
    return 0


def cmd_delete(args) -> int:
    connect(args)
    names = {b["name"]: b for b in admin.list_bouncers()}
    missing = [name for name in args.names if name not in names]
    if missing and not args.ignore_missing:
        raise InputError(f"unable to delete bouncer: bouncer '{missing[0]}' does not exist")
    for name in args.names:
        if name not in names:
            continue
        admin.delete_bouncer(name)
        info(f"bouncer '{name}' deleted successfully")
        # Children auto-created per client IP share the key: they go too.
        for child, row in names.items():
            if row["auto_created"] and child.startswith(name + "@"):
                admin.delete_bouncer(child)
                info(f"bouncer '{child}' deleted successfully")
    return 0


def cmd_prune(args) -> int:
    try:
        max_idle = parse_duration(args.duration)
    except ValueError:
        raise InputError(f"invalid duration '{args.duration}' for --duration (expected e.g. 60m, 2h)") from None
    if max_idle < 120:
        raise InputError("--duration must be at least 2m")
    connect(args)
    limit = int((time.time() - max_idle) * US)
    stale = [b for b in admin.list_bouncers() if (b["last_pull"] or b["created_at"]) < limit]
    if not stale:
        info("No bouncers to prune.")
        return 0
    render(args.output if args.output != "json" else "human",
           headers=["Name", "Last API pull"],
           rows=[[b["name"], rfc3339_seconds(b["last_pull"]) if b["last_pull"] else "never"] for b in stale])
    if not args.force:
        info(f"{len(stale)} bouncer(s) idle for more than {format_duration(max_idle)}: "
             "rerun with --force to delete them")
        return 0
    for bouncer in stale:
        admin.delete_bouncer(bouncer["name"])
    info(f"Successfully deleted {len(stale)} bouncers")
    return 0


def register(subparsers, common):
    parser = subparsers.add_parser("bouncers", aliases=["bouncer"], parents=[common],
                                   help="manage bouncers (direct database access)")
    parser.set_defaults(func=lambda args, p=parser: (p.print_help(), 1)[1])
    sub = parser.add_subparsers(dest="action", metavar="ACTION")

    add = sub.add_parser("add", parents=[common], help="add a bouncer and print its API key")
    add.add_argument("name", metavar="NAME")
    add.add_argument("-k", "--key", help="API key to use (default: generated)")
    add.set_defaults(func=cmd_add)

    lst = sub.add_parser("list", parents=[common], help="list bouncers")
    lst.set_defaults(func=cmd_list)

    inspect = sub.add_parser("inspect", parents=[common], help="show one bouncer")
    inspect.add_argument("name", metavar="NAME")
    inspect.set_defaults(func=cmd_inspect)

    delete = sub.add_parser("delete", aliases=["remove"], parents=[common], help="delete bouncers")
    delete.add_argument("names", nargs="+", metavar="NAME")
    delete.add_argument("--ignore-missing", action="store_true", help="do not fail on unknown names")
    delete.set_defaults(func=cmd_delete)

    prune = sub.add_parser("prune", parents=[common], help="delete bouncers that have not pulled for a while")
    prune.add_argument("-d", "--duration", default="60m", help="idle time before pruning (default 60m)")
    prune.add_argument("--force", action="store_true", help="delete without asking")
    prune.set_defaults(func=cmd_prune)
