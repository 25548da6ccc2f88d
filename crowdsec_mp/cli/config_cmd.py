"""`cscli-mp config show [--key K]` (spec/cli.md §2.9).

    config show               summary of the effective configuration (paths resolved)
    config show -o json       the whole configuration as JSON, config_paths resolved
    config show -o raw        the same as YAML
    config show --key K       one value. K is a dotted path into config.yaml
                              (`api.server.listen_uri`) or CrowdSec's Go-style form
                              (`Config.API.Server.ListenURI`): components match keys
                              case-insensitively, ignoring underscores.
"""

from __future__ import annotations

import copy
import sys

import yaml

from crowdsec_mp.cli.render import json_text
from crowdsec_mp.config import load_config
from crowdsec_mp.errors import CrowdsecMPError

PATH_KEYS = ("config_dir", "data_dir", "hub_dir", "index_path", "pattern_dir", "simulation_path")


def register(subparsers, common):
    parser = subparsers.add_parser("config", parents=[common], help="show the configuration")
    parser.set_defaults(func=lambda args, p=parser: (p.print_help(), 1)[1])
    sub = parser.add_subparsers(dest="action", metavar="ACTION")
    show = sub.add_parser("show", parents=[common], help="show the effective configuration")
    show.add_argument("--key", default=None, help="print one setting, e.g. api.server.listen_uri")
    show.set_defaults(func=cmd_show)


def effective_config(config) -> dict:
    """The raw configuration with config_paths made absolute (what the daemon uses)."""
    data = copy.deepcopy(config.raw)
    paths = data.setdefault("config_paths", {})
    for key in PATH_KEYS:
        value = getattr(config, key, None) if key != "index_path" else config.path_setting("index_path", None)
        if value is not None:
            paths[key] = str(value)
    common = data.get("common")
    if isinstance(common, dict) and common.get("log_dir"):
        common["log_dir"] = str(config.resolve(common["log_dir"]))
    data["config_file"] = str(config.path)
    return data


def normalise(key: str) -> str:
    return key.replace("_", "").replace("-", "").lower()


def lookup(data: dict, dotted: str):
    parts = [p for p in dotted.split(".") if p]
    if parts and parts[0] == "Config":
        parts = parts[1:]
    if not parts:
        raise CrowdsecMPError(f"invalid key {dotted!r}")
    value = data
    for i, part in enumerate(parts):
        if not isinstance(value, dict):
            raise CrowdsecMPError(f"no such key {dotted!r}: {'.'.join(parts[:i])} is not a section")
        matches = [k for k in value if normalise(str(k)) == normalise(part)]
        if not matches:
            raise CrowdsecMPError(f"no such key {dotted!r}: {part!r} not found")
        value = value[matches[0]]
    return value


def value_text(value) -> str:
    if isinstance(value, (dict, list)):
        return json_text(value)
    if isinstance(value, bool):
        return ("true" if value else "false") + "\n"
    return ("" if value is None else str(value)) + "\n"


def get(data, *path, default=""):
    for part in path:
        if not isinstance(data, dict) or part not in data:
            return default
        data = data[part]
    return data if data is not None else default


def summary_lines(config, data) -> list[str]:
    service = get(data, "crowdsec_service", default={})
    lines = [
        f"Configuration file: {config.path}",
        "Global:",
        f"   - Configuration Folder   : {get(data, 'config_paths', 'config_dir')}",
        f"   - Data Folder            : {get(data, 'config_paths', 'data_dir')}",
        f"   - Hub Folder             : {get(data, 'config_paths', 'hub_dir')}",
        f"   - Simulation File        : {get(data, 'config_paths', 'simulation_path')}",
        f"   - Pattern Folder         : {get(data, 'config_paths', 'pattern_dir')}",
        f"   - Log Folder             : {get(data, 'common', 'log_dir')}",
        f"   - Log level              : {get(data, 'common', 'log_level')}",
        f"   - Log Media              : {get(data, 'common', 'log_media')}",
        "Crowdsec:",
        f"  - Acquisition File        : {config.resolve(get(service, 'acquisition_path')) or ''}",
        f"  - Acquisition Folder      : {config.resolve(get(service, 'acquisition_dir')) or ''}",
        f"  - Parser workers          : {get(service, 'parser_workers')}",
        f"  - Bucket shards           : {get(service, 'bucket_shards')}",
        "cscli:",
        f"  - Output                  : {get(data, 'cscli', 'output', default='human')}",
        "API Client:",
        f"  - Credentials File        : {config.resolve(get(data, 'api', 'client', 'credentials_path')) or ''}",
    ]
    server = get(data, "api", "server", default={})
    if server:
        lines += [
            "Local API Server:",
            f"  - Enabled                 : {str(get(server, 'enable', default=True)).lower()}",
            f"  - Listen URL              : {get(server, 'listen_uri')}",
            f"  - Profile File            : {config.resolve(get(server, 'profiles_path')) or ''}",
            f"  - Trusted IPs             : {', '.join(map(str, get(server, 'trusted_ips', default=[]) or []))}",
            f"  - Database                : {get(data, 'db_config', 'type', default='sqlite')}",
        ]
        if get(data, "db_config", "type", default="sqlite") == "sqlite":
            lines.append(f"      - Path                : {config.resolve(get(data, 'db_config', 'db_path')) or ''}")
        else:
            lines.append(f"      - Host                : {get(data, 'db_config', 'host')}:{get(data, 'db_config', 'port')}")
            lines.append(f"      - Database            : {get(data, 'db_config', 'db_name')}")
    prometheus = get(data, "prometheus", default={})
    if prometheus:
        lines += [
            "Prometheus:",
            f"  - Enabled                 : {str(get(prometheus, 'enabled', default=False)).lower()}",
            f"  - Listen                  : {get(prometheus, 'listen_addr')}:{get(prometheus, 'listen_port')}",
        ]
    return lines


def cmd_show(args) -> int:
    config = load_config(args.config)
    data = effective_config(config)
    if args.key:
        sys.stdout.write(value_text(lookup(data, args.key)))
    elif args.output == "json":
        sys.stdout.write(json_text(data))
    elif args.output == "raw":
        sys.stdout.write(yaml.safe_dump(data, sort_keys=False, default_flow_style=False))
    else:
        sys.stdout.write("\n".join(summary_lines(config, data)) + "\n")
    return 0
