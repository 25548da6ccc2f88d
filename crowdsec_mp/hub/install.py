"""Install, remove and upgrade hub items into the configuration directory.

Layout (spec/parsers.md §1.1, cli.md §2.5), with `<file>` the basename of the
item's hub path (the author directory is dropped):
    <config_dir>/parsers/<stage>/<file>        <config_dir>/scenarios/<file>
    <config_dir>/postoverflows/<stage>/<file>  <config_dir>/collections/<file>
    <config_dir>/contexts/<file>               data files: <data_dir>/<dest_file>

Items are COPIED (not symlinked into the hub as CrowdSec does) so that the
configuration keeps working when the hub directory moves or is a remote URL.
What an installed file is, is therefore decided from the file itself:
  * its location matches an index item -> a hub item; the file's sha256 gives
    its version; no version matches -> "tainted" (modified locally);
    an older version matches -> "update-available";
  * no index item has that location -> a "local" item (written by the user).
A collection is tainted when one of its (recursive) members is tainted or
missing. Tainted and local files are never overwritten or deleted without
`force`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from crowdsec_mp.hub.source import (
    ITEM_KINDS,
    STAGED_KINDS,
    HubError,
    check_item_name,
    item_stage,
    sha256_hex,
    write_atomic,
)

YAML_SUFFIXES = (".yaml", ".yml")
#: Keys of a collection that name member items, and the kind they belong to.
MEMBER_KEYS = {kind: kind for kind in ITEM_KINDS}
#: Members of kinds this engine does not run (CrowdSec's WAF); skipped with a note.
UNSUPPORTED_MEMBER_KEYS = ("appsec-rules", "appsec-configs")


@dataclass
class ItemState:
    """One hub or local item as seen from the configuration directory."""

    kind: str
    name: str
    installed: bool = False
    local: bool = False
    tainted: bool = False
    outdated: bool = False
    local_version: str | None = None
    latest_version: str | None = None
    local_path: Path | None = None
    description: str = ""

    @property
    def status(self) -> str:
        if not self.installed:
            return "disabled"
        parts = ["enabled"]
        if self.local:
            parts.append("local")
        if self.tainted:
            parts.append("tainted")
        elif self.outdated:
            parts.append("update-available")
        return ",".join(parts)

    @property
    def version_text(self) -> str:
        return self.local_version or ""


@dataclass
class Report:
    """What an operation did (or would do with dry_run), in order, for the CLI."""

    actions: list = field(default_factory=list)  # (verb, kind, name, detail)
    warnings: list = field(default_factory=list)

    def add(self, verb, kind, name, detail=""):
        self.actions.append((verb, kind, name, detail))

    @property
    def changed(self) -> bool:
        return any(verb in ("installed", "upgraded", "removed", "downloaded", "updated") for verb, *_ in self.actions)

    def messages(self) -> list[str]:
        lines = []
        for verb, kind, name, detail in self.actions:
            lines.append(f"{kind} {name}: {verb}" + (f" ({detail})" if detail else ""))
        return lines + [f"warning: {text}" for text in self.warnings]


def check_kind(kind: str) -> None:
    if kind not in ITEM_KINDS:
        raise HubError(f"unknown item type {kind!r} (expected one of: {', '.join(ITEM_KINDS)})")


def first_document_name(path: Path) -> str | None:
    """The `name:` of the first YAML document of a file (local items), or None."""
    try:
        for document in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if isinstance(document, dict) and isinstance(document.get("name"), str):
                return document["name"]
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None
    return None


def data_entries(content: bytes, name: str) -> list[dict]:
    """Every `data:` entry of an item file (all documents, child nodes included)."""
    try:
        documents = list(yaml.safe_load_all(content.decode("utf-8")))
    except (UnicodeDecodeError, yaml.YAMLError) as exc:
        raise HubError(f"{name}: item file is not valid YAML: {exc}") from exc
    found = []

    def walk(node):
        if not isinstance(node, dict):
            return
        for entry in node.get("data") or []:
            if isinstance(entry, dict) and entry.get("dest_file"):
                found.append(entry)
        for child in node.get("nodes") or []:
            walk(child)

    for document in documents:
        walk(document)
    return found


class HubInstaller:
    """Installs items of one hub `source` into `config_dir`, data files into `data_dir`."""

    def __init__(self, source, config_dir, data_dir):
        self.source = source
        self.config_dir = Path(config_dir)
        self.data_dir = Path(data_dir)

    # -- index -----------------------------------------------------------------

    def entry(self, kind: str, name: str) -> dict:
        check_kind(kind)
        check_item_name(name)
        entry = self.source.index().get(kind, {}).get(name)
        if entry is None:
            raise HubError(f"can't find {name!r} in {kind} (hub {self.source.describe()})")
        return entry

    def target_path(self, kind: str, entry: dict) -> Path:
        basename = Path(entry["path"]).name
        if kind in STAGED_KINDS:
            stage = item_stage(entry)
            if not stage:
                raise HubError(f"{kind} item at {entry['path']!r} has no stage")
            return self.config_dir / kind / stage / basename
        return self.config_dir / kind / basename

    def members(self, entry: dict) -> list[tuple[str, str]]:
        """(kind, name) of a collection's direct members, in the index's order."""
        return [
            (kind, member)
            for key, kind in MEMBER_KEYS.items()
            for member in entry.get(key) or []
            if member
        ]

    # -- state -------------------------------------------------------------------

    def installed_files(self, kind: str) -> list[Path]:
        root = self.config_dir / kind
        if not root.is_dir():
            return []
        if kind in STAGED_KINDS:
            candidates = [p for stage in sorted(root.iterdir()) if stage.is_dir() for p in sorted(stage.iterdir())]
        else:
            candidates = sorted(root.iterdir())
        return [p for p in candidates if p.is_file() and p.suffix in YAML_SUFFIXES and not p.name.startswith(".")]

    def states(self, kind: str, include_all: bool = False) -> list[ItemState]:
        """Installed items of `kind` (every hub item too with include_all), by name."""
        check_kind(kind)
        index_items = self.source.index().get(kind, {})
        by_path = {}
        for name, entry in index_items.items():
            try:
                by_path.setdefault(self.target_path(kind, entry), []).append(name)
            except HubError:
                continue
        found = {}
        for path in self.installed_files(kind):
            state = self._file_state(kind, path, by_path.get(path, []), index_items)
            found.setdefault(state.name, state)
        if kind == "collections":
            for state in found.values():
                if not state.local and not state.tainted and self._collection_damaged(state.name, set()):
                    state.tainted = True
        if include_all:
            for name, entry in index_items.items():
                if name not in found:
                    found[name] = ItemState(
                        kind, name, latest_version=entry.get("version"),
                        description=entry.get("description") or "",
                    )
        return [found[name] for name in sorted(found)]

    def state(self, kind: str, name: str) -> ItemState:
        for state in self.states(kind, include_all=True):
            if state.name == name:
                return state
        self.entry(kind, name)  # raises the "can't find" error
        raise AssertionError("unreachable")

    def _file_state(self, kind, path, names, index_items) -> ItemState:
        digest = sha256_hex(path.read_bytes())
        if not names:
            name = first_document_name(path) or f"{path.stem}"
            return ItemState(kind, name, installed=True, local=True, local_path=path)
        # Several hub items can share a basename: prefer the one the file matches.
        chosen = names[0]
        for name in names:
            if any(v.get("digest") == digest for v in (index_items[name].get("versions") or {}).values()):
                chosen = name
                break
        entry = index_items[chosen]
        state = ItemState(
            kind, chosen, installed=True, local_path=path,
            latest_version=entry.get("version"), description=entry.get("description") or "",
        )
        for version, info in (entry.get("versions") or {}).items():
            if isinstance(info, dict) and info.get("digest") == digest:
                state.local_version = version
        if state.local_version is None:
            state.tainted = True
            state.local_version = "?"
        elif state.local_version != entry.get("version"):
            state.outdated = True
        return state

    def _member_state(self, kind, name) -> ItemState | None:
        try:
            entry = self.entry(kind, name)
        except HubError:
            return None
        path = self.target_path(kind, entry)
        if not path.is_file():
            return None
        return self._file_state(kind, path, [name], self.source.index()[kind])

    def _owner_of(self, kind, target) -> str | None:
        """Which hub item an existing file is a copy of (any version), if any."""
        if not target.is_file():
            return None
        digest = sha256_hex(target.read_bytes())
        for other, entry in self.source.index().get(kind, {}).items():
            try:
                if self.target_path(kind, entry) != target:
                    continue
            except HubError:
                continue
            if any(isinstance(v, dict) and v.get("digest") == digest for v in (entry.get("versions") or {}).values()):
                return other
        return None

    def _collection_damaged(self, name, seen) -> bool:
        """True if a member of collection `name` is missing or tainted (recursively)."""
        if name in seen:
            return False
        seen.add(name)
        entry = self.source.index().get("collections", {}).get(name)
        if entry is None:
            return False
        for kind, member in self.members(entry):
            state = self._member_state(kind, member)
            if state is None or state.tainted:
                return True
            if kind == "collections" and self._collection_damaged(member, seen):
                return True
        return False

    # -- install / upgrade ----------------------------------------------------------

    def install(self, kind, name, *, force=False, dry_run=False, report=None, _seen=None) -> Report:
        """Install an item (and a collection's members, recursively) and its data files.

        Already installed and current: nothing to do. Tainted or outdated:
        left alone unless `force` (use upgrade for outdated items).
        """
        report = report if report is not None else Report()
        seen = _seen if _seen is not None else set()
        if (kind, name) in seen:
            return report
        seen.add((kind, name))
        entry = self.entry(kind, name)
        target = self.target_path(kind, entry)
        current = self._member_state(kind, name)
        if target.exists() and current is None:
            raise HubError(f"{kind} {name}: {target} exists and is not a copy of a hub item; remove it first")
        owner = self._owner_of(kind, target)
        if owner not in (None, name):
            raise HubError(
                f"{kind} {name}: {target} already holds {owner} (same file name); remove {owner} first"
            )
        if current is not None and current.tainted and not force:
            report.warnings.append(f"{kind} {name} is tainted (modified locally), not overwritten; use --force")
        elif current is not None and not current.outdated and not current.tainted and not force:
            report.add("already installed", kind, name, current.local_version)
        else:
            content = self.source.item_bytes(name, entry)
            verb = "upgraded" if current is not None else "installed"
            if not dry_run:
                self._place_data_files(name, content, report)
                write_atomic(target, content)
            report.add(verb, kind, name, f"{entry.get('version')} -> {target}")
        if kind == "collections":
            for member_kind, member in self.members(entry):
                self.install(member_kind, member, force=force, dry_run=dry_run, report=report, _seen=seen)
            for key in UNSUPPORTED_MEMBER_KEYS:
                for member in entry.get(key) or []:
                    report.warnings.append(f"{name}: skipped {key} {member} (not supported by this engine)")
        return report

    def _place_data_files(self, name, content, report):
        for data in data_entries(content, name):
            dest = Path(str(data["dest_file"]))
            if dest.is_absolute() or ".." in dest.parts:
                raise HubError(f"{name}: data dest_file {data['dest_file']!r} must stay inside the data directory")
            target = self.data_dir / dest
            try:
                blob = self.source.data_bytes(str(dest), data.get("source_url"))
            except HubError as exc:
                if target.is_file():
                    continue  # keep the copy we already have
                # Offline hubs often lack big optional data (GeoIP databases): the
                # item still installs; the engine logs the missing file at load.
                report.warnings.append(f"{name}: data file {dest} not installed: {exc}")
                continue
            if target.is_file() and target.read_bytes() == blob:
                continue
            verb = "updated" if target.exists() else "downloaded"
            write_atomic(target, blob)
            report.add(verb, "data", str(dest), str(target))

    def upgrade(self, kind, name, *, force=False, dry_run=False, report=None) -> Report:
        """Bring one installed hub item to the index's version (tainted: only with force)."""
        report = report if report is not None else Report()
        entry = self.entry(kind, name)
        state = self._member_state(kind, name)
        if state is None:
            report.warnings.append(f"{kind} {name} is not installed")
            return report
        if state.tainted and not force:
            report.warnings.append(f"{kind} {name} is tainted (modified locally), not upgraded; use --force")
        elif state.outdated or (state.tainted and force):
            content = self.source.item_bytes(name, entry)
            if not dry_run:
                self._place_data_files(name, content, report)
                write_atomic(self.target_path(kind, entry), content)
            report.add("upgraded", kind, name, f"{state.local_version} -> {entry.get('version')}")
        else:
            report.add("up to date", kind, name, state.local_version)
        if kind == "collections":
            for member_kind, member in self.members(entry):
                if self._member_state(member_kind, member) is None:
                    self.install(member_kind, member, force=force, dry_run=dry_run, report=report)
                else:
                    self.upgrade(member_kind, member, force=force, dry_run=dry_run, report=report)
        return report

    def upgrade_all(self, kind, *, force=False, dry_run=False, report=None) -> Report:
        report = report if report is not None else Report()
        for state in self.states(kind):
            if not state.local:
                self.upgrade(kind, state.name, force=force, dry_run=dry_run, report=report)
        return report

    # -- remove -----------------------------------------------------------------------

    def remove(self, kind, name, *, force=False, purge=False, dry_run=False, report=None) -> Report:
        """Remove an installed item; for a collection also the members that no
        other installed collection needs. Local items are never removed (delete
        the file yourself); tainted ones only with `force`. `purge` also deletes
        the item's data files."""
        report = report if report is not None else Report()
        check_kind(kind)
        check_item_name(name)
        local = next((s for s in self.states(kind) if s.local and s.name == name), None)
        if local is not None:
            raise HubError(f"{kind} {name} is a local item ({local.local_path}); delete the file yourself")
        entry = self.entry(kind, name)
        state = self._member_state(kind, name)
        if state is None:
            report.add("not installed", kind, name)
            return report
        if state.tainted and not force:
            report.warnings.append(f"{kind} {name} is tainted (modified locally), not removed; use --force")
            return report
        self._delete(kind, name, entry, purge, dry_run, report)
        if kind == "collections":
            removed = self._all_members(entry, set())
            removed_collections = {name} | {m for k, m in removed if k == "collections"}
            still_needed = self._needed_by_other_collections(exclude=removed_collections)
            for member_kind, member in removed:
                if (member_kind, member) in still_needed:
                    report.add("kept", member_kind, member, "needed by another collection")
                    continue
                member_state = self._member_state(member_kind, member)
                if member_state is None:
                    continue
                if member_state.tainted and not force:
                    report.warnings.append(f"{member_kind} {member} is tainted, not removed; use --force")
                    continue
                self._delete(member_kind, member, self.entry(member_kind, member), purge, dry_run, report)
        return report

    def _delete(self, kind, name, entry, purge, dry_run, report):
        target = self.target_path(kind, entry)
        content = target.read_bytes()
        if not dry_run:
            target.unlink()
        report.add("removed", kind, name, str(target))
        if purge:
            used_elsewhere = self._data_files_in_use()
            for data in data_entries(content, name):
                path = self.data_dir / str(data["dest_file"])
                if path.is_file() and str(data["dest_file"]) not in used_elsewhere:
                    if not dry_run:
                        path.unlink()
                    report.add("removed", "data", str(data["dest_file"]))

    def _data_files_in_use(self) -> set[str]:
        used = set()
        for kind in ITEM_KINDS:
            for path in self.installed_files(kind):
                try:
                    used.update(str(d["dest_file"]) for d in data_entries(path.read_bytes(), str(path)))
                except HubError:
                    continue
        return used

    def _all_members(self, entry, seen) -> list[tuple[str, str]]:
        found = []
        for kind, member in self.members(entry):
            if (kind, member) in seen:
                continue
            seen.add((kind, member))
            found.append((kind, member))
            if kind == "collections":
                sub = self.source.index().get("collections", {}).get(member)
                if sub is not None:
                    found.extend(self._all_members(sub, seen))
        return found

    def _needed_by_other_collections(self, exclude) -> set[tuple[str, str]]:
        needed = set()
        for state in self.states("collections"):
            if state.name in exclude or state.local:
                continue
            entry = self.source.index().get("collections", {}).get(state.name)
            if entry is not None:
                needed.update(self._all_members(entry, set()))
        return needed


def installer_from_config(config, hub=None) -> HubInstaller:
    """The installer for a loaded `Config`: hub from `hub` (dir or URL), else
    `config_paths.hub_index_url`, else `config_paths.hub_dir`."""
    from crowdsec_mp.hub.source import is_url, open_source

    paths = config.section("config_paths")
    if hub:  # from the command line: relative to the working directory
        location = hub if is_url(hub) else Path(hub).resolve()
    else:  # from config.yaml: relative to the file's directory
        location = paths.get("hub_index_url") or paths.get("hub_dir")
        if location and not is_url(location):
            location = config.resolve(location)
    cache = config.data_dir / ".hub-index.json"
    return HubInstaller(open_source(location or config.hub_dir, cache), config.config_dir, config.data_dir)


