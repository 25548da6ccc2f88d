"""Build a hub's `.index.json` from its item files (CrowdSec's index format).

Layout read (hub/README of ../shared describes the same one):
    parsers/<stage>/<author>/<name>.yaml      postoverflows/<stage>/<author>/<name>.yaml
    scenarios/<author>/<name>.yaml            collections/<author>/<name>.yaml
    contexts/<author>/<name>.yaml             optional <name>.md next to each item

Each item is keyed `<author>/<name>` (author directory + file stem) and gets:
path, version, versions {version: {digest (sha256 of the file), deprecated}},
content (base64 of the file), long_description (base64 of the .md, if any),
author, description, labels, stage (parsers/postoverflows), references, and for
collections the member lists.

Versions are kept across rebuilds: the previous index is read, an unchanged
file keeps its version, a changed file gets the next one (0.1, 0.2, ... 0.9,
1.0). So the index is the version history and must be rebuilt and committed
whenever an item changes (`--check` tells whether that is needed).
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import yaml

from crowdsec_mp.errors import ConfigError

STAGED = ("parsers", "postoverflows")
UNSTAGED = ("scenarios", "collections", "contexts")
COLLECTION_MEMBER_KEYS = ("parsers", "scenarios", "postoverflows", "collections", "contexts")
FIRST_VERSION = "0.1"


def next_version(version: str) -> str:
    try:
        major, minor = (int(part) for part in version.split("."))
    except ValueError:
        return FIRST_VERSION
    minor += 1
    if minor >= 10:
        major, minor = major + 1, 0
    return f"{major}.{minor}"


def item_files(hub_dir: Path):
    """(kind, stage or None, author, path) of every item file, sorted by path."""
    found = []
    for kind in STAGED:
        for path in sorted((hub_dir / kind).glob("*/*/*")):
            if path.suffix in (".yaml", ".yml"):
                found.append((kind, path.parent.parent.name, path.parent.name, path))
    for kind in UNSTAGED:
        for path in sorted((hub_dir / kind).glob("*/*")):
            if path.suffix in (".yaml", ".yml"):
                found.append((kind, None, path.parent.name, path))
    return found


def load_documents(path: Path, hub_dir: Path) -> list:
    rel = path.relative_to(hub_dir)
    try:
        documents = [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d is not None]
    except (UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"invalid YAML: {exc}", file=rel) from exc
    if not documents or not all(isinstance(d, dict) for d in documents):
        raise ConfigError("every YAML document must be a mapping", file=rel)
    return documents


def build_entry(kind, stage, author, path, hub_dir, previous):
    rel = path.relative_to(hub_dir).as_posix()
    name = f"{author}/{path.stem}"
    documents = load_documents(path, hub_dir)
    first = documents[0]
    declared = first.get("name")
    if kind != "contexts" and declared != name:
        raise ConfigError(f"name must be {name!r} (author directory/file name)", file=rel, field="name")
    content = path.read_bytes()
    digest = hashlib.sha256(content).hexdigest()

    versions = dict((previous or {}).get("versions") or {})
    version = (previous or {}).get("version")
    if not versions or not version:
        version, versions = FIRST_VERSION, {}
    if versions.get(version, {}).get("digest") != digest:
        if versions:
            version = next_version(version)
        versions[version] = {"deprecated": False, "digest": digest}

    entry = {
        "author": author,
        "content": base64.b64encode(content).decode("ascii"),
        "description": str(first.get("description") or ""),
        "labels": first.get("labels"),
        "path": rel,
        "version": version,
        "versions": versions,
    }
    doc_path = path.with_suffix(".md")
    if doc_path.is_file():
        entry["long_description"] = base64.b64encode(doc_path.read_bytes()).decode("ascii")
    if first.get("references"):
        entry["references"] = first["references"]
    if stage:
        entry["stage"] = stage
    if kind == "collections":
        for key in COLLECTION_MEMBER_KEYS:
            members = first.get(key)
            if members:
                if not isinstance(members, list) or not all(isinstance(m, str) for m in members):
                    raise ConfigError("must be a list of item names", file=rel, field=key)
                entry[key] = members
    return name, entry


def build_index(hub_dir, previous_index=None) -> dict:
    """The index of `hub_dir`, versions continued from `previous_index`."""
    hub_dir = Path(hub_dir)
    previous_index = previous_index or {}
    index = {kind: {} for kind in ("collections", "contexts", "parsers", "postoverflows", "scenarios")}
    for kind, stage, author, path in item_files(hub_dir):
        name, entry = build_entry(kind, stage, author, path, hub_dir, previous_index.get(kind, {}).get(name_of(author, path)))
        if name in index[kind]:
            raise ConfigError(f"duplicate item {name!r} (also {index[kind][name]['path']})",
                              file=path.relative_to(hub_dir))
        index[kind][name] = entry
    check_collections(index)
    return index


def name_of(author, path) -> str:
    return f"{author}/{path.stem}"


def check_collections(index) -> None:
    """Every collection member must exist in this hub: a dangling name would
    only fail later, at install time, on the operator's machine."""
    for name, entry in index["collections"].items():
        for key in COLLECTION_MEMBER_KEYS:
            for member in entry.get(key) or []:
                if member not in index[key]:
                    raise ConfigError(f"unknown {key[:-1]} {member!r}", file=entry["path"], item=name, field=key)


def index_text(index) -> str:
    return json.dumps(index, indent=2, sort_keys=True) + "\n"


def read_index(path: Path) -> dict:
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ConfigError(f"invalid JSON: {exc}", file=path) from exc
