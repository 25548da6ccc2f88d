"""Where hub items come from: a hub directory (offline) or a hub index URL.

A hub is CrowdSec's layout: `.index.json` at the root, item files at the
`path` the index gives, data files optionally under `data/<dest_file>`.

`HubSource` is the one interface the installer uses:
  * `index()`            -> the parsed `.index.json` (dict of kind -> name -> entry)
  * `item_bytes(entry)`  -> the item file, checked against the index digest
  * `data_bytes(dest_file, source_url)` -> a data file (hub copy first, then source_url)

`open_source(location, cache_path)` picks the implementation: a location
starting with http:// or https:// is an index URL, anything else a directory.
Only `UrlSource` touches the network, and only through `requests`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from pathlib import Path

from crowdsec_mp.errors import CrowdsecMPError

#: Item kinds this project installs, in the order `hub list` shows them.
ITEM_KINDS = ("parsers", "postoverflows", "scenarios", "contexts", "collections")
#: Kinds whose files live in a stage directory (`<kind>/<stage>/<file>`).
STAGED_KINDS = ("parsers", "postoverflows")
#: `author/name`: what CrowdSec accepts as a hub item name.
ITEM_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
HTTP_TIMEOUT_SECONDS = 30


class HubError(CrowdsecMPError):
    """A hub operation failed (unknown item, bad digest, unreachable hub...)."""


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def check_item_name(name: str) -> None:
    if not ITEM_NAME_RE.match(name or ""):
        raise HubError(f"invalid item name {name!r}: expected 'author/name'")


def item_stage(entry: dict) -> str | None:
    """Stage of a parser/postoverflow entry: the `stage` field, else the path's
    second component (`parsers/<stage>/<author>/<file>`)."""
    if entry.get("stage"):
        return entry["stage"]
    parts = Path(entry.get("path", "")).parts
    return parts[1] if len(parts) >= 4 else None


def latest_digest(entry: dict) -> str | None:
    version = (entry.get("versions") or {}).get(entry.get("version"))
    return version.get("digest") if isinstance(version, dict) else None


def verify_digest(name: str, entry: dict, data: bytes) -> bytes:
    """Return `data` if its sha256 is the digest of the entry's current version."""
    expected = latest_digest(entry)
    if not expected:
        raise HubError(f"{name}: the hub index has no digest for version {entry.get('version')!r}")
    actual = sha256_hex(data)
    if actual != expected:
        raise HubError(
            f"{name}: checksum mismatch for {entry.get('path')}: "
            f"index says {expected}, file is {actual}"
        )
    return data


def parse_index(text: bytes | str, origin: str) -> dict:
    try:
        index = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise HubError(f"{origin}: invalid hub index: {exc}") from exc
    if not isinstance(index, dict):
        raise HubError(f"{origin}: invalid hub index: top level must be an object")
    for kind, items in index.items():
        if not isinstance(items, dict):
            raise HubError(f"{origin}: invalid hub index: {kind!r} must map names to items")
        for name, entry in items.items():
            if not isinstance(entry, dict) or not isinstance(entry.get("path"), str):
                raise HubError(f"{origin}: invalid hub index: {kind} {name!r} has no 'path'")
    return index


class DirectorySource:
    """A hub on disk (our `hub/`, a CrowdSec hub checkout). Works fully offline."""

    def __init__(self, hub_dir, allow_network=True):
        self.root = Path(hub_dir)
        #: False: data files missing from `<hub>/data/` are not downloaded.
        self.allow_network = allow_network
        self.index_path = self.root / ".index.json"
        self._index = None

    def describe(self) -> str:
        return str(self.root)

    def index(self) -> dict:
        if self._index is None:
            try:
                text = self.index_path.read_bytes()
            except OSError as exc:
                raise HubError(f"cannot read hub index {self.index_path}: {exc.strerror or exc}") from exc
            self._index = parse_index(text, str(self.index_path))
        return self._index

    def item_bytes(self, name: str, entry: dict) -> bytes:
        path = self.root / entry["path"]
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise HubError(f"{name}: cannot read {path}: {exc.strerror or exc}") from exc
        return verify_digest(name, entry, data)

    def data_bytes(self, dest_file: str, source_url: str | None) -> bytes:
        local = self.root / "data" / dest_file
        if local.is_file():
            return local.read_bytes()
        if source_url and self.allow_network:
            return http_get(source_url)
        reason = "downloads are disabled" if source_url else "it has no source_url"
        raise HubError(f"data file {dest_file!r} is not in {self.root / 'data'} and {reason}")


class UrlSource:
    """A hub served over HTTP(S): `<base>/.index.json`, `<base>/<path>`, `<base>/data/<file>`.

    The index is cached in `cache_path` so that `list` works offline after one
    `hub update`; `refresh()` downloads it again.
    """

    def __init__(self, url: str, cache_path):
        if url.endswith(".json"):
            self.index_url = url
            self.base_url = url.rsplit("/", 1)[0] + "/"
        else:
            self.base_url = url.rstrip("/") + "/"
            self.index_url = self.base_url + ".index.json"
        self.cache_path = Path(cache_path) if cache_path else None
        self._index = None

    def describe(self) -> str:
        return self.index_url

    def refresh(self) -> dict:
        text = http_get(self.index_url)
        self._index = parse_index(text, self.index_url)
        if self.cache_path:
            write_atomic(self.cache_path, text)
        return self._index

    def index(self) -> dict:
        if self._index is None:
            if self.cache_path and self.cache_path.is_file():
                self._index = parse_index(self.cache_path.read_bytes(), str(self.cache_path))
            else:
                self.refresh()
        return self._index

    def item_bytes(self, name: str, entry: dict) -> bytes:
        # An index built with content saves one request per item.
        if entry.get("content"):
            try:
                return verify_digest(name, entry, base64.b64decode(entry["content"], validate=True))
            except (ValueError, HubError):
                pass  # stale or broken inline content: fall back to the file itself
        return verify_digest(name, entry, http_get(self.base_url + entry["path"]))

    def data_bytes(self, dest_file: str, source_url: str | None) -> bytes:
        try:
            return http_get(self.base_url + "data/" + dest_file)
        except HubError:
            if not source_url:
                raise
        return http_get(source_url)


def http_get(url: str) -> bytes:
    import requests  # imported lazily: offline directory use never needs it

    try:
        response = requests.get(url, timeout=HTTP_TIMEOUT_SECONDS)
    except requests.RequestException as exc:
        raise HubError(f"cannot download {url}: {exc}") from exc
    if response.status_code != 200:
        raise HubError(f"cannot download {url}: HTTP {response.status_code}")
    return response.content


def write_atomic(path: Path, data: bytes) -> None:
    """Write through a temporary file so a crash never leaves half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


def is_url(location) -> bool:
    return str(location).startswith(("http://", "https://"))


def open_source(location, cache_path=None):
    """A `UrlSource` for http(s) locations, else a `DirectorySource`."""
    if not location:
        raise HubError("no hub configured (config_paths.hub_dir is empty)")
    if is_url(location):
        return UrlSource(str(location), cache_path)
    path = Path(location)
    if not path.is_dir():
        raise HubError(f"hub directory {path} does not exist")
    return DirectorySource(path)
