"""acquis.yaml (+ acquis.d/*.yaml) and `-dsn` parsing into `SourceSpec`s (spec/cli.md §4).

Each file is multi-document YAML, one datasource per document. Validation is
strict: an unknown key, a wrong type or an unsupported source is a
`ConfigError` naming the file, the document (`item`) and the field, and the
daemon refuses to start. `build_source(spec)` turns a validated spec into a
running datasource object (file.py, journalctl.py, syslog.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs

import yaml

from crowdsec_mp.acquisition.base import Source
from crowdsec_mp.acquisition.lines import DEFAULT_MAX_LINE_BYTES
from crowdsec_mp.errors import ConfigError

COMMON_KEYS = {
    "source", "labels", "mode", "log_level", "name", "use_time_machine", "unique_id", "transform",
}
SOURCE_KEYS = {
    "file": {
        "filename", "filenames", "exclude_regexps", "force_inotify", "poll_without_inotify",
        "max_buffer_size", "discovery_poll_enable", "discovery_poll_interval",
    },
    "journalctl": {"journalctl_filter"},
    "syslog": {"listen_addr", "listen_port", "protocol", "max_message_len", "disable_rfc_parser"},
}
#: CrowdSec sources this project does not implement: refused with a clear message.
UNSUPPORTED_SOURCES = {
    "docker", "cloudwatch", "kinesis", "kafka", "loki", "victorialogs", "s3", "http",
    "k8s-audit", "wineventlog", "appsec",
}
MODES = ("tail", "cat")


@dataclass
class SourceSpec:
    """One validated datasource. `origin` says where it was declared (for errors and logs)."""

    source: str
    labels: dict
    mode: str = "tail"
    name: str = ""
    options: dict = field(default_factory=dict)
    origin: str = ""
    use_time_machine: bool = False
    transform: str = ""


# -- acquis.yaml ---------------------------------------------------------------
def acquisition_files(acquisition_path, acquisition_dir) -> list[Path]:
    """acquis.yaml first, then acquis.d/*.yaml|*.yml in name order (missing ones skipped)."""
    files = []
    if acquisition_path and Path(acquisition_path).is_file():
        files.append(Path(acquisition_path))
    if acquisition_dir and Path(acquisition_dir).is_dir():
        files.extend(
            sorted(p for p in Path(acquisition_dir).iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
        )
    return files


def load_acquisition(acquisition_path, acquisition_dir=None) -> list[SourceSpec]:
    """Every datasource declared in acquis.yaml and acquis.d. Errors name file/document/field."""
    specs: list[SourceSpec] = []
    for path in acquisition_files(acquisition_path, acquisition_dir):
        specs.extend(load_acquisition_file(path))
    seen: dict[str, str] = {}
    for spec in specs:
        if spec.name in seen:
            raise ConfigError(
                f"duplicate datasource name (also used in {seen[spec.name]})",
                file=spec.origin, field="name",
            )
        seen[spec.name] = spec.origin
    return specs


def load_acquisition_file(path) -> list[SourceSpec]:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror or exc}", file=path) from exc
    try:
        documents = list(yaml.safe_load_all(text))
    except yaml.YAMLError as exc:
        raise ConfigError(f"invalid YAML: {exc}", file=path) from exc
    specs = []
    for index, document in enumerate(documents):
        if document is None:  # an empty document (e.g. a trailing ---)
            continue
        specs.append(spec_from_mapping(document, file=path, item=f"document {index + 1}"))
    return specs


def _error(message, file, item, field_name=None):
    return ConfigError(message, file=file, item=item, field=field_name)


def infer_source(document: dict) -> str | None:
    if "source" in document:
        return document["source"]
    if "filename" in document or "filenames" in document:
        return "file"
    if "journalctl_filter" in document:
        return "journalctl"
    return None


def _string_list(value, file, item, key) -> list[str]:
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not all(isinstance(entry, str) and entry for entry in value):
        raise _error("must be a list of non-empty strings", file, item, key)
    return list(value)


def spec_from_mapping(document, *, file, item) -> SourceSpec:
    if not isinstance(document, dict):
        raise _error("a datasource must be a mapping", file, item)
    source = infer_source(document)
    if source is None:
        raise _error("missing 'source' (and it cannot be inferred: no filename(s)/journalctl_filter)",
                     file, item, "source")
    if not isinstance(source, str):
        raise _error("must be a string", file, item, "source")
    if source in UNSUPPORTED_SOURCES:
        raise _error(f"source {source!r} is not supported by crowdsec-mp "
                     f"(supported: {', '.join(sorted(SOURCE_KEYS))})", file, item, "source")
    if source not in SOURCE_KEYS:
        raise _error(f"unknown source {source!r}", file, item, "source")
    unknown = sorted(set(document) - COMMON_KEYS - SOURCE_KEYS[source])
    if unknown:
        raise _error(f"unknown key for a {source} datasource", file, item, unknown[0])
    labels = document.get("labels")
    if not isinstance(labels, dict) or not labels:
        raise _error("labels are required (a mapping, e.g. {type: syslog})", file, item, "labels")
    if not all(isinstance(key, str) for key in labels):
        raise _error("label names must be strings", file, item, "labels")
    labels = {key: "" if value is None else str(value) for key, value in labels.items()}
    mode = document.get("mode", "tail")
    if mode not in MODES:
        raise _error(f"must be one of {', '.join(MODES)}", file, item, "mode")
    name = document.get("name") or ""
    if not isinstance(name, str):
        raise _error("must be a string", file, item, "name")
    transform = document.get("transform") or ""
    if not isinstance(transform, str):
        raise _error("must be a string", file, item, "transform")
    time_machine = document.get("use_time_machine", False)
    if not isinstance(time_machine, bool):
        raise _error("must be true or false", file, item, "use_time_machine")
    options = _validate_options(source, document, file, item)
    origin = f"{file} ({item})"
    return SourceSpec(
        source=source, labels=labels, mode=mode, name=name or f"{source}:{origin}",
        options=options, origin=origin, use_time_machine=time_machine, transform=transform,
    )


def _positive_int(document, key, default, file, item, maximum=None) -> int:
    value = document.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1 or (maximum and value > maximum):
        bound = f" and at most {maximum}" if maximum else ""
        raise _error(f"must be a positive integer{bound}", file, item, key)
    return value


def _validate_options(source, document, file, item) -> dict:
    if source == "file":
        patterns = []
        if "filename" in document:
            patterns += _string_list(document["filename"], file, item, "filename")
        if "filenames" in document:
            patterns += _string_list(document["filenames"], file, item, "filenames")
        if not patterns:
            raise _error("a file datasource needs filename or filenames", file, item, "filenames")
        excludes = _string_list(document.get("exclude_regexps", []), file, item, "exclude_regexps") \
            if document.get("exclude_regexps") else []
        for expr in excludes:
            try:
                re.compile(expr)
            except re.error as exc:
                raise _error(f"invalid regexp {expr!r}: {exc}", file, item, "exclude_regexps") from exc
        max_line = _positive_int(document, "max_buffer_size", DEFAULT_MAX_LINE_BYTES, file, item)
        return {"patterns": patterns, "exclude_regexps": excludes, "max_line_bytes": max_line}
    if source == "journalctl":
        filters = document.get("journalctl_filter")
        if not filters:
            raise _error("a journalctl datasource needs journalctl_filter", file, item, "journalctl_filter")
        return {"filters": _string_list(filters, file, item, "journalctl_filter")}
    # syslog
    protocol = document.get("protocol", "udp")
    if protocol not in ("udp", "tcp"):
        raise _error("must be udp or tcp", file, item, "protocol")
    addr = document.get("listen_addr", "127.0.0.1")
    if not isinstance(addr, str) or not addr:
        raise _error("must be an address string", file, item, "listen_addr")
    disable = document.get("disable_rfc_parser", False)
    if not isinstance(disable, bool):
        raise _error("must be true or false", file, item, "disable_rfc_parser")
    return {
        "listen_addr": addr,
        "listen_port": _positive_int(document, "listen_port", 514, file, item, maximum=65535),
        "protocol": protocol,
        "max_message_len": _positive_int(document, "max_message_len", 2048, file, item),
        "disable_rfc_parser": disable,
    }


# -- -dsn and -label -----------------------------------------------------------
def parse_labels(label_args, log_type: str | None) -> dict:
    """`-label k:v[,k2:v2]` arguments (repeatable) plus `type` forced to `-type` (event.md §2)."""
    labels: dict[str, str] = {}
    for arg in label_args or []:
        for pair in arg.split(","):
            parts = pair.split(":")
            if len(parts) != 2:
                raise ConfigError(f"invalid label {pair!r}: expected key:value", field="-label")
            labels[parts[0]] = parts[1]
    if log_type:
        labels["type"] = log_type
    return labels


def parse_dsn(dsn: str, log_type: str, labels: dict | None = None) -> SourceSpec:
    """A `-dsn` datasource, always in cat (time-machine) mode."""
    if not log_type:
        raise ConfigError("-dsn requires a -type argument", field="-type")
    labels = dict(labels or {})
    labels["type"] = log_type
    scheme, sep, rest = dsn.partition("://")
    if not sep:
        raise ConfigError(f"invalid DSN {dsn!r}: expected <scheme>://...", field="-dsn")
    if scheme == "file":
        path, _, query = rest.partition("?")
        if not path:
            raise ConfigError(f"invalid DSN {dsn!r}: empty path", field="-dsn")
        params = _dsn_params(dsn, query, {"log_level", "max_buffer_size"})
        max_line = DEFAULT_MAX_LINE_BYTES
        if "max_buffer_size" in params:
            try:
                max_line = int(params["max_buffer_size"][-1])
                if max_line < 1:
                    raise ValueError
            except ValueError as exc:
                raise ConfigError(f"invalid DSN {dsn!r}: max_buffer_size must be a positive integer",
                                  field="-dsn") from exc
        options = {"patterns": [path], "exclude_regexps": [], "max_line_bytes": max_line}
        return SourceSpec("file", labels, "cat", name=f"dsn:{dsn}", options=options, origin=f"-dsn {dsn}",
                          use_time_machine=True)
    if scheme == "journalctl":
        params = _dsn_params(dsn, rest, {"filters", "log_level", "since"})
        filters = params.get("filters", [])
        if not filters:
            raise ConfigError(f"invalid DSN {dsn!r}: journalctl needs filters=...", field="-dsn")
        options = {"filters": filters}
        if "since" in params:
            options["filters"] = [*filters, f"--since={params['since'][-1]}"]
        return SourceSpec("journalctl", labels, "cat", name=f"dsn:{dsn}", options=options,
                          origin=f"-dsn {dsn}", use_time_machine=True)
    raise ConfigError(f"unsupported DSN scheme {scheme!r} (supported: file, journalctl)", field="-dsn")


def _dsn_params(dsn, query, allowed) -> dict:
    params = parse_qs(query, keep_blank_values=True) if query else {}
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise ConfigError(f"invalid DSN {dsn!r}: unknown parameter {unknown[0]!r}", field="-dsn")
    return params


# -- spec -> running datasource ------------------------------------------------
def build_source(spec: SourceSpec, positions: dict | None = None, **overrides) -> Source:
    """Instantiate the datasource for a validated spec. `overrides` are for tests/tuning."""
    source = _build_source(spec, positions, **overrides)
    source.time_machine = spec.mode == "cat" or spec.use_time_machine
    return source


def _build_source(spec: SourceSpec, positions: dict | None = None, **overrides) -> Source:
    if spec.source == "file":
        from crowdsec_mp.acquisition.file import FileSource

        return FileSource(spec.name, spec.options["patterns"], spec.labels, mode=spec.mode,
                          exclude_regexps=spec.options["exclude_regexps"],
                          max_line_bytes=spec.options["max_line_bytes"], positions=positions, **overrides)
    if spec.source == "journalctl":
        from crowdsec_mp.acquisition.journalctl import JournalctlSource

        return JournalctlSource(spec.name, spec.options["filters"], spec.labels, mode=spec.mode, **overrides)
    if spec.source == "syslog":
        from crowdsec_mp.acquisition.syslog import SyslogSource

        options = dict(spec.options)
        return SyslogSource(spec.name, spec.labels, **options, **overrides)
    raise ConfigError(f"unknown source {spec.source!r}", file=spec.origin, field="source")
