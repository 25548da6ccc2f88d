"""The hub index (`.index.json`) and resolution of hub-test item references.

`HubIndex.load(hub_dir)` reads the index; `index.item(kind, name)` returns a
`HubItem` (path on disk, version, stage, digest of the current version, decoded
content...). `resolve_test_item(kind, ref, hub_dir, test_dir)` turns one entry
of a hub test's `config.yaml` (`parsers:`, `scenarios:`, `postoverflows:`) into
`(stage, path)` per spec/hubtest.md §3.1.

Item installation (copying into a config dir, collections, data downloads) is
built on top of this module elsewhere; this one only reads.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from pathlib import Path

from crowdsec_mp.errors import ConfigError

#: Item kinds this engine understands (appsec kinds are kept in the raw index only).
KINDS = ("parsers", "scenarios", "postoverflows", "collections", "contexts")
#: Kinds whose files live in a stage directory: `<kind>/<stage>/<author>/<file>`.
STAGED_KINDS = ("parsers", "postoverflows")


@dataclass
class HubItem:
    kind: str
    name: str               # author/name
    path: Path              # absolute path of the item file in the hub
    hub_path: str           # path relative to the hub root, as in the index
    version: str = ""
    stage: str = ""         # parsers/postoverflows only
    digest: str = ""        # sha256 of the current version ("" if unknown)
    author: str = ""
    description: str = ""
    labels: dict | None = None
    content_b64: str = ""
    #: For collections: member item names by kind (parsers, scenarios, ...).
    members: dict = field(default_factory=dict)
    raw: dict = field(default_factory=dict)

    @property
    def content(self) -> bytes:
        """The item file as stored in the index (identical to the file in a consistent hub)."""
        return base64.b64decode(self.content_b64) if self.content_b64 else self.path.read_bytes()

    @property
    def file_name(self) -> str:
        """Installed file name: the basename, without the author directory."""
        return self.path.name


class HubIndex:
    def __init__(self, hub_dir: Path, data: dict):
        self.hub_dir = Path(hub_dir)
        self.raw = data

    @classmethod
    def load(cls, hub_dir) -> "HubIndex":
        hub_dir = Path(hub_dir)
        index_path = hub_dir / ".index.json"
        try:
            data = json.loads(index_path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"cannot read hub index: {exc.strerror or exc}", file=index_path) from exc
        except ValueError as exc:
            raise ConfigError(f"invalid JSON: {exc}", file=index_path) from exc
        if not isinstance(data, dict):
            raise ConfigError("hub index must be a JSON object", file=index_path)
        return cls(hub_dir, data)

    def names(self, kind: str) -> list[str]:
        return sorted(self.raw.get(kind) or {})

    def has(self, kind: str, name: str) -> bool:
        return name in (self.raw.get(kind) or {})

    def item(self, kind: str, name: str) -> HubItem:
        entries = self.raw.get(kind) or {}
        record = entries.get(name)
        if not isinstance(record, dict):
            raise ConfigError("no such item in the hub index", file=self.hub_dir / ".index.json",
                              item=f"{kind}:{name}")
        hub_path = str(record.get("path") or "")
        if not hub_path:
            raise ConfigError("index entry has no path", file=self.hub_dir / ".index.json",
                              item=f"{kind}:{name}", field="path")
        version = str(record.get("version") or "")
        versions = record.get("versions") or {}
        digest = str((versions.get(version) or {}).get("digest") or "")
        return HubItem(
            kind=kind, name=name, path=self.hub_dir / hub_path, hub_path=hub_path,
            version=version, stage=str(record.get("stage") or _stage_from_path(kind, hub_path)),
            digest=digest, author=str(record.get("author") or ""),
            description=str(record.get("description") or ""), labels=record.get("labels"),
            content_b64=str(record.get("content") or ""),
            members={k: list(record.get(k) or []) for k in KINDS if k in record},
            raw=record,
        )


def _stage_from_path(kind: str, hub_path: str) -> str:
    if kind not in STAGED_KINDS:
        return ""
    parts = Path(hub_path).parts
    return parts[-3] if len(parts) >= 3 else ""


def is_item_name(ref: str) -> bool:
    """`author/name` (a hub name) rather than a file path."""
    return not ref.startswith((".", "/")) and not ref.endswith((".yaml", ".yml"))


def resolve_test_item(kind: str, ref: str, hub_dir, test_dir, index: HubIndex | None = None):
    """One `config.yaml` entry of a hub test -> `(stage, Path)` (hubtest.md §3.1).

    * A hub name is looked up in the index (`index` or `<hub_dir>/.index.json`).
    * Otherwise the entry is a path: resolved against the hub root, then the test
      directory. A leading `/` is joined onto the hub root like CrowdSec does. In
      this snapshot hub tests live in `tests/`, so `.tests/<x>/...` maps to `tests/<x>/...`.
    * For parsers/postoverflows the stage is the third-from-last path component and
      must be a stage directory of the hub (`<hub>/<kind>/<stage>`). Scenarios: stage "".
    Raises ConfigError (naming the item) when nothing matches.
    """
    hub_dir = Path(hub_dir)
    test_dir = Path(test_dir)
    ref = ref.strip()
    if index is None and is_item_name(ref):
        index = HubIndex.load(hub_dir)
    if index is not None and index.has(kind, ref):
        item = index.item(kind, ref)
        return item.stage, item.path
    if is_item_name(ref) and index is not None:
        raise ConfigError("not found in the hub index", item=f"{kind}:{ref}")

    relative = ref.lstrip("/")
    candidates = []
    for base in (hub_dir, test_dir):
        candidates.append(base / relative)
    mapped = _map_dot_tests(relative)
    if mapped != relative:
        candidates.insert(1, hub_dir / mapped)
    path = next((c for c in candidates if c.is_file()), None)
    if path is None:
        raise ConfigError(
            "file not found (tried " + ", ".join(str(c) for c in candidates) + ")",
            item=f"{kind}:{ref}",
        )
    if kind not in STAGED_KINDS:
        return "", path
    parts = Path(relative).parts
    stage = parts[-3] if len(parts) >= 3 else ""
    if not stage or not (hub_dir / kind / stage).is_dir():
        raise ConfigError(f"stage {stage!r} is not a stage directory of the hub", item=f"{kind}:{ref}")
    return stage, path


def _map_dot_tests(relative: str) -> str:
    """`./.tests/x/...` (the hub's layout) -> `tests/x/...` (this snapshot's layout)."""
    trimmed = relative[2:] if relative.startswith("./") else relative
    if trimmed.startswith(".tests/"):
        return "tests/" + trimmed[len(".tests/"):]
    return relative
