"""`cscli-mp simulation status|enable|disable` (spec/cli.md §2.7, scenarios.md §9).

simulation.yaml (config_paths.simulation_path):
    simulation: false        # global switch
    exclusions: [a/b, ...]   # scenarios whose mode is the opposite of the switch
A scenario is simulated iff `simulation XOR (name in exclusions)`.

    status                       global state and the exclusions
    enable  SCENARIO... | -g     put scenarios (or everything) in simulation mode
    disable SCENARIO... | -g     take scenarios (or everything) out of it
Changes need a reload of the daemon.
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

from crowdsec_mp.cli.render import info, json_text
from crowdsec_mp.config import load_config
from crowdsec_mp.engine.simulation import SimulationConfig
from crowdsec_mp.engine.simulation import read_simulation_file as load_simulation
from crowdsec_mp.errors import CrowdsecMPError
from crowdsec_mp.hub.source import ITEM_NAME_RE, write_atomic

RELOAD_HINT = "Run 'scripts/stop.sh && scripts/start.sh' (or reload crowdsec-mp) for the new simulation settings to be effective."
FILE_HEADER = (
    "# Simulation mode (cscli-mp simulation enable|disable edits this file).\n"
    "# A scenario is simulated when `simulation` is true XOR it is listed in `exclusions`.\n"
)


def save_simulation(path, settings: SimulationConfig) -> None:
    text = FILE_HEADER + yaml.safe_dump(settings.to_dict(), sort_keys=False, default_flow_style=False)
    write_atomic(Path(path), text.encode("utf-8"))


def register(subparsers, common):
    parser = subparsers.add_parser("simulation", parents=[common], help="manage simulation mode of scenarios")
    parser.set_defaults(func=lambda args, p=parser: (p.print_help(), 1)[1])
    sub = parser.add_subparsers(dest="action", metavar="ACTION")
    status = sub.add_parser("status", parents=[common], help="show the simulation settings")
    status.set_defaults(func=cmd_status)
    for name, func in (("enable", cmd_enable), ("disable", cmd_disable)):
        action = sub.add_parser(name, parents=[common], help=f"{name} simulation mode")
        action.add_argument("scenarios", nargs="*", metavar="SCENARIO")
        action.add_argument("-g", "--global", dest="global_", action="store_true",
                            help=f"{name} simulation for every scenario")
        action.set_defaults(func=func)


def simulation_path(args) -> Path:
    return load_config(args.config).simulation_path


def cmd_status(args) -> int:
    settings = load_simulation(simulation_path(args))
    if args.output == "json":
        sys.stdout.write(json_text(settings.to_dict()))
        return 0
    if args.output == "raw":
        sys.stdout.write("scenario,simulated\n")
        sys.stdout.write(f"*,{str(settings.simulation).lower()}\n")
        for name in settings.exclusions:
            sys.stdout.write(f"{name},{str(not settings.simulation).lower()}\n")
        return 0
    sys.stdout.write(f"global simulation: {'enabled' if settings.simulation else 'disabled'}\n")
    if settings.exclusions:
        title = "Scenarios not in simulation mode:" if settings.simulation else "Scenarios in simulation mode:"
        sys.stdout.write("\n" + title + "\n")
        for name in settings.exclusions:
            sys.stdout.write(f"  - {name}\n")
    return 0


def check_arguments(args) -> None:
    if args.global_ and args.scenarios:
        raise CrowdsecMPError("give scenario names or --global, not both")
    if not args.global_ and not args.scenarios:
        raise CrowdsecMPError("give at least one scenario name, or --global")
    for name in args.scenarios:
        if not ITEM_NAME_RE.match(name):
            raise CrowdsecMPError(f"invalid scenario name {name!r}: expected 'author/name'")


def change(args, enable: bool) -> int:
    check_arguments(args)
    path = simulation_path(args)
    settings = load_simulation(path)
    if args.global_:
        # Like cscli: flipping the global switch also clears the per-scenario exceptions.
        settings = SimulationConfig(simulation=enable, exclusions=[])
        info(f"global simulation: {'enabled' if enable else 'disabled'}")
    else:
        for name in args.scenarios:
            if settings.is_simulated(name) == enable:
                info(f"simulation is already {'enabled' if enable else 'disabled'} for {name}")
                continue
            # Differing from the global switch = being listed in the exclusions.
            if name in settings.exclusions:
                settings.exclusions.remove(name)
            else:
                settings.exclusions.append(name)
            info(f"simulation mode for '{name}' {'enabled' if enable else 'disabled'}")
    save_simulation(path, settings)
    info(RELOAD_HINT)
    return 0


def cmd_enable(args) -> int:
    return change(args, True)


def cmd_disable(args) -> int:
    return change(args, False)
