"""`crowdsec-mp`: the daemon (spec/cli.md §3, Go-style single-dash flags).

    crowdsec-mp [-c config.yaml]                       live: tail acquis.yaml sources, run LAPI
    crowdsec-mp -dsn file:///x.log -type syslog -no-api   replay one source and exit
    crowdsec-mp -t                                     configuration test

Replay mode reads the DSN in cat mode (time machine), lets every batch go
through the pipeline, flushes and pushes the alerts to the LAPI (credentials
from api.client.credentials_path), then exits 0. `-dump-data DIR` writes the
alerts to DIR/alerts.jsonl instead of pushing them (our format: one LAPI alert
object per line, not CrowdSec's three dump files).

The detection itself is `pipeline/engine_binding.py`; when the engine or the
installed items cannot be loaded the daemon says what is missing and exits
non-zero: it never runs without detection.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys

from crowdsec_mp import __version__
from crowdsec_mp.errors import BootError, ConfigError, CrowdsecMPError

log = logging.getLogger("crowdsec_mp.daemon")

EXIT_CONFIG = 1
EXIT_USAGE = 2


class UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="crowdsec-mp", allow_abbrev=False,
                     description="CrowdSec-compatible detection daemon (multi-process).")
    add = parser.add_argument
    add("-c", "--c", dest="config", default=None, help="path to config.yaml")
    add("-dsn", "--dsn", default=None, help="replay one datasource, e.g. file:///var/log/auth.log")
    add("-type", "--type", dest="log_type", default=None, help="labels.type of the -dsn source")
    add("-label", "--label", action="append", default=[], help="extra label k:v[,k2:v2] (repeatable)")
    add("-transform", "--transform", default=None, help="expr applied to acquired events (needs -dsn)")
    add("-no-api", "--no-api", dest="no_api", action="store_true", help="do not start the Local API")
    add("-no-cs", "--no-cs", dest="no_cs", action="store_true", help="do not start the agent (LAPI only)")
    add("-no-capi", "--no-capi", dest="no_capi", action="store_true", help="accepted; CAPI is not implemented")
    add("-t", "--t", dest="test_config", action="store_true", help="test the configuration and exit")
    add("-dump-data", "--dump-data", dest="dump_data", default=None,
        help="write alerts to DIR/alerts.jsonl instead of pushing them to the LAPI")
    add("-order-event", "--order-event", dest="order_event", action="store_true",
        help="accepted: events are always applied in log order")
    for level in ("trace", "debug", "info", "warning", "error", "fatal"):
        add(f"-{level}", f"--{level}", dest=f"level_{level}", action="store_true", help=f"log level {level}")
    add("-version", "--version", dest="version", action="store_true", help="print the version")
    add("-cpu-profile", "--cpu-profile", dest="cpu_profile", default=None, help="accepted, ignored")
    add("-workers", "--workers", dest="workers", type=int, default=None,
        help="parser workers (overrides crowdsec_service.parser_workers)")
    add("-shards", "--shards", dest="shards", type=int, default=None,
        help="bucket shards (overrides crowdsec_service.bucket_shards)")
    return parser


def log_level(args) -> int:
    for name, level in (("trace", logging.DEBUG), ("debug", logging.DEBUG), ("info", logging.INFO),
                        ("warning", logging.WARNING), ("error", logging.ERROR), ("fatal", logging.CRITICAL)):
        if getattr(args, f"level_{name}"):
            return level
    return logging.INFO


def check_flags(args) -> None:
    if args.dsn and not args.log_type:
        raise UsageError("-dsn requires a -type argument")
    if args.log_type and not args.dsn:
        raise UsageError("-type requires a -dsn argument")
    if args.transform and not args.dsn:
        raise UsageError("-transform requires a -dsn argument")
    if args.no_api and args.no_cs:
        raise UsageError("you must run at least the API Server or crowdsec")
    for flag in ("workers", "shards"):
        value = getattr(args, flag)
        if value is not None and value < 1:
            raise UsageError(f"-{flag} must be at least 1")


class DaemonPlan:
    """Everything decided before any process starts (also what `-t` checks)."""

    def __init__(self, args):
        from crowdsec_mp.acquisition.config import load_acquisition, parse_dsn, parse_labels
        from crowdsec_mp.config import load_config
        from crowdsec_mp.pipeline.settings import ServiceSettings

        self.args = args
        self.config = load_config(args.config)
        self.settings = ServiceSettings.from_config(self.config)
        self.replay = bool(args.dsn)
        self.run_agent = not args.no_cs
        self.run_api = not args.no_api and self.settings.api_server_enabled
        if args.transform:
            raise ConfigError("-transform is not supported yet", field="-transform")
        if self.run_agent:
            if self.replay:
                self.specs = [parse_dsn(args.dsn, args.log_type, parse_labels(args.label, args.log_type))]
            else:
                self.specs = load_acquisition(self.settings.acquisition_path, self.settings.acquisition_dir)
            for spec in self.specs:
                if spec.transform:
                    raise ConfigError("transform is not supported yet", file=spec.origin, field="transform")
        else:
            self.specs = []
        self.push_to_lapi = self.run_agent and not args.dump_data
        self.parser_workers = args.workers or self.settings.parser_workers
        self.bucket_shards = args.shards or self.settings.bucket_shards

    def check(self) -> list[str]:
        """Load everything the run would load; returns report lines. Raises ConfigError/BootError."""
        report = [f"configuration: {self.config.path}"]
        if self.run_agent:
            from crowdsec_mp.pipeline.engine_binding import check_config

            if not self.specs:
                raise ConfigError("no datasource configured (acquis.yaml / acquis.d are empty or missing)",
                                  file=self.settings.acquisition_path, field="source")
            report.append(f"datasources: {len(self.specs)}")
            if self.replay:
                self._check_dsn_files()
            counts = check_config(self.config)
            report.append("engine: {parsers} parser files, {scenarios} scenarios, "
                          "{postoverflows} postoverflow files".format(**counts))
            if self.push_to_lapi:
                from crowdsec_mp.pipeline.lapi_client import load_credentials

                if self.settings.credentials_path is None:
                    raise ConfigError("missing local API credentials for crowdsec agent, abort",
                                      file=self.config.path, field="api.client.credentials_path")
                load_credentials(self.settings.credentials_path)
                report.append(f"LAPI credentials: {self.settings.credentials_path}")
        if self.run_api:
            from crowdsec_mp.api.settings import ApiSettings

            api = ApiSettings.from_config(self.config)
            report.append(f"local API: {api.listen_uri}")
        return report


    def _check_dsn_files(self) -> None:
        import glob

        for spec in self.specs:
            if spec.source == "file" and not any(glob.glob(p) for p in spec.options["patterns"]):
                raise ConfigError(f"no file matches {', '.join(spec.options['patterns'])}", field="-dsn")


def positions_path(plan) -> str:
    return os.path.join(str(plan.settings.state_dir), "acquisition-positions.json")


def build_sources(plan, positions: dict):
    from crowdsec_mp.acquisition.config import build_source

    return [build_source(spec, positions=positions) if spec.source == "file" else build_source(spec)
            for spec in plan.specs]


def load_positions(path: str) -> dict:
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def run_daemon(plan) -> int:
    from crowdsec_mp.pipeline.runspec import RunSpec
    from crowdsec_mp.pipeline.sockets import RunDir
    from crowdsec_mp.pipeline.supervisor import Supervisor

    # Fail fast, in this process, with the config error: children would only repeat it.
    for line in plan.check():
        log.info("%s", line)
    state_dir = str(plan.settings.state_dir)
    os.makedirs(state_dir, exist_ok=True)
    alerts_file = ""
    if plan.args.dump_data:
        os.makedirs(plan.args.dump_data, exist_ok=True)
        alerts_file = os.path.join(plan.args.dump_data, "alerts.jsonl")
        open(alerts_file, "w").close()
    pos_path = None if plan.replay else positions_path(plan)
    sources = build_sources(plan, load_positions(pos_path) if pos_path else {})
    run_dir = RunDir()
    run = RunSpec(
        run_dir=run_dir.path,
        parser_workers=plan.parser_workers if plan.run_agent else 0,
        bucket_shards=plan.bucket_shards if plan.run_agent else 0,
        mode="replay" if plan.replay else "live",
        config_path=str(plan.config.path),
        state_dir=state_dir,
        alerts_file=alerts_file,
        push_to_lapi=plan.push_to_lapi,
        # The LAPI of this same daemon may still be starting when a short replay ends.
        flush_timeout=30.0 if plan.replay and plan.run_api else 3.0,
    )

    def reload_sources(positions):
        fresh = DaemonPlan(plan.args)
        return build_sources(fresh, positions)

    progress = make_progress(plan) if plan.replay else None
    supervisor = Supervisor(
        run, sources, start_api=plan.run_api, agent=plan.run_agent,
        positions_path=pos_path, reload_sources=None if plan.replay else reload_sources,
        progress=progress, keep_api_after_replay=plan.replay and plan.run_api,
    )
    metrics_server = start_metrics(plan, supervisor)
    try:
        status = supervisor.run_forever()
    finally:
        if progress is not None:
            progress.close()
        if metrics_server is not None:
            metrics_server.close()
        run_dir.cleanup()
    if status != 0 and supervisor.halt_message:
        print(f"crowdsec-mp: {supervisor.halt_message}", file=sys.stderr)
    if plan.replay:
        log.info("replay done: %s", json.dumps(supervisor.summary()))
    return status


def make_progress(plan):
    if not sys.stderr.isatty():
        return None
    from crowdsec_mp.pipeline.progress import ReplayProgress

    return ReplayProgress(plan.args.dsn)


def start_metrics(plan, supervisor):
    if not plan.settings.prometheus_enabled:
        return None
    from crowdsec_mp.pipeline.metrics import MetricsServer

    try:
        return MetricsServer.start(supervisor, plan.settings.prometheus_addr, plan.settings.prometheus_port)
    except OSError as exc:
        raise BootError(f"prometheus: cannot listen on {plan.settings.prometheus_addr}:"
                        f"{plan.settings.prometheus_port}: {exc.strerror or exc}") from exc


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        args = build_parser().parse_args(argv)
        if args.version:
            print(f"crowdsec-mp v{__version__}")
            return 0
        check_flags(args)
    except UsageError as exc:
        print(f"crowdsec-mp: {exc}", file=sys.stderr)
        return EXIT_USAGE
    logging.basicConfig(level=log_level(args), stream=sys.stderr,
                        format="%(asctime)s supervisor %(levelname)s %(message)s")
    try:
        plan = DaemonPlan(args)
        if args.test_config:
            for line in plan.check():
                print(line)
            print("Configuration test: OK")
            return 0
        return run_daemon(plan)
    except CrowdsecMPError as exc:
        print(f"crowdsec-mp: {exc}", file=sys.stderr)
        return EXIT_CONFIG


if __name__ == "__main__":
    raise SystemExit(main())
