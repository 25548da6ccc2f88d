"""`cscli-mp lapi status|register` (spec/cli.md §2.8)."""

from __future__ import annotations



from crowdsec_mp.cli.apiclient import (
    ApiError, LapiClient, client_from_config, credentials_path_of, write_credentials,
)
from crowdsec_mp.cli.decisions import InputError
from crowdsec_mp.cli.machines import default_url, generate_machine_name, generate_password
from crowdsec_mp.cli.render import info
from crowdsec_mp.config import load_config
from crowdsec_mp.errors import CrowdsecMPError


class LapiStatusError(CrowdsecMPError):
    """The Local API refused our credentials."""


def cmd_status(args) -> int:
    config = load_config(args.config)
    client, path = client_from_config(config)
    info(f"Loaded credentials from {path}")
    info(f'Trying to authenticate with username "{client.login_name}" on {client.url}')
    try:
        client.login()
    except ApiError as exc:
        raise LapiStatusError(f"failed to authenticate to Local API (LAPI): {exc}") from None
    info("You can successfully interact with Local API (LAPI)")
    return 0


def cmd_register(args) -> int:
    config = load_config(args.config)
    url = args.url or default_url(config)
    if not url.startswith(("http://", "https://")):
        raise InputError(f"invalid URL '{url}': must start with http:// or https://")
    if args.token is not None and not 32 <= len(args.token) <= 255:
        raise InputError("--token must be 32 to 255 characters long")
    name = args.machine or generate_machine_name()
    password = generate_password()
    LapiClient(url, name, password).register(args.token)
    info("Successfully registered to Local API (LAPI)")
    target = args.file or str(credentials_path_of(config))
    if not write_credentials(target, url=url, login=name, password=password):
        return 0
    info(f"Local API credentials written to '{target}'")
    return 0


def register(subparsers, common):
    parser = subparsers.add_parser("lapi", parents=[common], help="check or register with the Local API")
    parser.set_defaults(func=lambda args, p=parser: (p.print_help(), 1)[1])
    sub = parser.add_subparsers(dest="action", metavar="ACTION")

    status = sub.add_parser("status", parents=[common], help="check the credentials against the Local API")
    status.set_defaults(func=cmd_status)

    reg = sub.add_parser("register", parents=[common], help="register a new (unvalidated) machine")
    reg.add_argument("-u", "--url", help="LAPI URL (default from api.server.listen_uri)")
    reg.add_argument("-f", "--file",
                     help="credentials file to write ('-' = stdout; default api.client.credentials_path)")
    reg.add_argument("--machine", help="machine name (default: generated)")
    reg.add_argument("--token", help="auto-registration token")
    reg.set_defaults(func=cmd_register)
