"""`cscli-mp machines add|list|inspect|validate|delete|prune` (spec/cli.md §2.4).

Direct database access through crowdsec_mp.api.admin, like cscli. `add`
creates a validated machine and writes the credentials file agents and
cscli-mp log in with (`url`, `login`, `password`).
"""

from __future__ import annotations

import getpass
import secrets
import string
import sys
import time
import uuid
from pathlib import Path


from crowdsec_mp.api import admin
from crowdsec_mp.api.durations import format_duration, parse_duration
from crowdsec_mp.api.timefmt import rfc3339_seconds
from crowdsec_mp.cli.apiclient import write_credentials
from crowdsec_mp.cli.decisions import InputError
from crowdsec_mp.cli.render import info, json_text, render
from crowdsec_mp.config import load_config

US = 1_000_000
VALID_MARK = "\u2714\ufe0f"   # ✔️
PENDING_MARK = "\U0001f6ab"   # 🚫
DEFAULT_CREDENTIALS = "local_api_credentials.yaml"


def generate_machine_name() -> str:
    """32 hex chars of a UUID4 + 16 random alphanumerics, as cscli --auto does."""
    alphabet = string.ascii_letters + string.digits
    return uuid.uuid4().hex + "".join(secrets.choice(alphabet) for _ in range(16))


def generate_password() -> str:
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(64))


def default_url(config) -> str:
    server = config.section("api").get("server") or {}
    listen = str(server.get("listen_uri") or "127.0.0.1:8080")
    return f"http://{listen}/"


def default_credentials_file(config) -> Path:
    client = config.section("api").get("client") or {}
    path = config.resolve(client.get("credentials_path")) if isinstance(client, dict) else None
    return path or Path(DEFAULT_CREDENTIALS)


def cmd_add(args) -> int:
    name = args.name
    if not name:
        if not args.auto:
            raise InputError("please specify a machine name to add, or use --auto")
        name = generate_machine_name()
    if args.password and args.interactive:
        raise InputError("--password and --interactive are exclusive")
    password = args.password
    if not password:
        if args.interactive:
            password = getpass.getpass("Please provide a password for the machine: ")
        elif args.auto:
            password = generate_password()
        else:
            raise InputError("please specify a password with --password or use --auto")
    config = load_config(args.config)
    target = args.file or str(default_credentials_file(config))
    if target != "-" and Path(target).exists() and not args.force:
        raise InputError(
            f"credentials file '{target}' already exists: please remove it, use --force, "
            "or specify a different file with -f ('-f -' for standard output)"
        )
    admin.connect(config)
    if args.force and any(m["machine_id"] == name for m in admin.list_machines()):
        admin.delete_machine(name)
    admin.add_machine(name, password, validated=True)
    info(f"Machine '{name}' successfully added to the local API.")
    if not write_credentials(target, url=args.url or default_url(config), login=name, password=password):
        return 0
    info(f"API credentials written to '{target}'.")
    return 0


def machine_json(row: dict) -> dict:
    """One machine as `machines list -o json` prints it (cscli's key names)."""
    item = {
        "created_at": rfc3339_seconds(row["created_at"]),
        "last_push": rfc3339_seconds(row["last_push"]) if row["last_push"] else None,
        "last_heartbeat": rfc3339_seconds(row["last_heartbeat"]) if row["last_heartbeat"] else None,
        "machineId": row["machine_id"],
        "ipAddress": row["ip_address"],
        "version": row["version"],
        "isValidated": True,
        "auth_type": row["auth_type"],
        "scenarios": row["scenarios"],
        "os": "",
        "featureflags": [],
        "datasources": {},
    }
    if not row["is_validated"]:
        del item["isValidated"]  # omitted when false, as in cscli's JSON
    return item


def heartbeat_age(row: dict, now: float) -> str:
    if not row["last_heartbeat"]:
        return "-"
    return format_duration(now - row["last_heartbeat"] / US)


def cmd_list(args) -> int:
    admin.connect(load_config(args.config))
    machines = admin.list_machines()
    now = time.time()
    rows, raw_rows = [], []
    for m in machines:
        last_update = rfc3339_seconds(m["last_push"] or m["created_at"])
        rows.append([m["machine_id"], m["ip_address"], last_update, VALID_MARK if m["is_validated"] else PENDING_MARK,
                     m["version"], "", m["auth_type"], heartbeat_age(m, now)])
        raw_rows.append([m["machine_id"], m["ip_address"], last_update,
                         "validated" if m["is_validated"] else "pending", m["version"], m["auth_type"],
                         rfc3339_seconds(m["last_heartbeat"]) if m["last_heartbeat"] else ""])
    render(
        args.output,
        headers=["Name", "IP Address", "Last Update", "Status", "Version", "OS", "Auth Type", "Last Heartbeat"],
        rows=rows,
        raw_headers=["machine_id", "ip_address", "updated_at", "validated", "version", "auth_type", "last_heartbeat"],
        raw_rows=raw_rows,
        data=[machine_json(m) for m in machines],
    )
    return 0


def find_machine(name: str) -> dict:
    for machine in admin.list_machines():
        if machine["machine_id"] == name:
            return machine
    raise InputError(f"machine '{name}' does not exist")


def cmd_inspect(args) -> int:
    admin.connect(load_config(args.config))
    machine = machine_json(find_machine(args.name))
    if args.output == "human":
        render("human", headers=["Field", "Value"], rows=[[k, v] for k, v in machine.items()])
    else:
        sys.stdout.write(json_text(machine))
    return 0


def cmd_validate(args) -> int:
    admin.connect(load_config(args.config))
    find_machine(args.name)
    admin.validate_machine(args.name)
    info(f"machine '{args.name}' validated successfully")
    return 0


def cmd_delete(args) -> int:
    admin.connect(load_config(args.config))
    existing = {m["machine_id"] for m in admin.list_machines()}
    missing = [name for name in args.names if name not in existing]
    if missing and not args.ignore_missing:
        raise InputError(f"unable to delete machine: machine '{missing[0]}' does not exist")
    for name in args.names:
        if name in existing:
            admin.delete_machine(name)
            info(f"machine '{name}' deleted successfully")
    return 0


def cmd_prune(args) -> int:
    try:
        max_idle = parse_duration(args.duration)
    except ValueError:
        raise InputError(f"invalid duration '{args.duration}' for --duration (expected e.g. 10m, 2h)") from None
    if max_idle < 120:
        raise InputError("--duration must be at least 2m")
    admin.connect(load_config(args.config))
    limit = int((time.time() - max_idle) * US)
    machines = admin.list_machines()
    stale = [m for m in machines if not m["is_validated"]]
    if not args.not_validated_only:
        stale += [m for m in machines if m["is_validated"] and (m["last_heartbeat"] or m["created_at"]) < limit]
    if not stale:
        info("No machines to prune.")
        return 0
    render("human", headers=["Name", "Status", "Last Heartbeat"],
           rows=[[m["machine_id"], "validated" if m["is_validated"] else "pending",
                  rfc3339_seconds(m["last_heartbeat"]) if m["last_heartbeat"] else "never"] for m in stale])
    if not args.force:
        info(f"{len(stale)} machine(s) to prune: rerun with --force to delete them")
        return 0
    for machine in stale:
        admin.delete_machine(machine["machine_id"])
    info(f"successfully deleted {len(stale)} machines")
    return 0


def register(subparsers, common):
    parser = subparsers.add_parser("machines", aliases=["machine"], parents=[common],
                                   help="manage machines (direct database access)")
    parser.set_defaults(func=lambda args, p=parser: (p.print_help(), 1)[1])
    sub = parser.add_subparsers(dest="action", metavar="ACTION")

    add = sub.add_parser("add", parents=[common], help="add a validated machine and write its credentials")
    add.add_argument("name", nargs="?", metavar="NAME")
    add.add_argument("-p", "--password", help="machine password")
    add.add_argument("-a", "--auto", action="store_true", help="generate the name and/or password")
    add.add_argument("-i", "--interactive", action="store_true", help="ask for the password")
    add.add_argument("-f", "--file",
                     help="credentials file to write ('-' = stdout; default api.client.credentials_path)")
    add.add_argument("-u", "--url", help="LAPI URL written in the credentials (default from api.server.listen_uri)")
    add.add_argument("--force", action="store_true", help="replace an existing machine / credentials file")
    add.set_defaults(func=cmd_add)

    lst = sub.add_parser("list", parents=[common], help="list machines")
    lst.set_defaults(func=cmd_list)

    inspect = sub.add_parser("inspect", parents=[common], help="show one machine")
    inspect.add_argument("name", metavar="NAME")
    inspect.set_defaults(func=cmd_inspect)

    validate = sub.add_parser("validate", parents=[common], help="validate a machine")
    validate.add_argument("name", metavar="NAME")
    validate.set_defaults(func=cmd_validate)

    delete = sub.add_parser("delete", aliases=["remove"], parents=[common], help="delete machines")
    delete.add_argument("names", nargs="+", metavar="NAME")
    delete.add_argument("--ignore-missing", action="store_true", help="do not fail on unknown names")
    delete.set_defaults(func=cmd_delete)

    prune = sub.add_parser("prune", parents=[common], help="delete stale or unvalidated machines")
    prune.add_argument("-d", "--duration", default="10m", help="heartbeat age before pruning (default 10m)")
    prune.add_argument("--not-validated-only", action="store_true")
    prune.add_argument("--force", action="store_true", help="delete without asking")
    prune.set_defaults(func=cmd_prune)
