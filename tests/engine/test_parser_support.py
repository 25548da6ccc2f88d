"""Helpers shared by the parser tests: build a tree from inline YAML, make events."""

from __future__ import annotations

from datetime import datetime, timezone

from crowdsec_mp.engine.context import EngineContext
from crowdsec_mp.engine.event import TIMEMACHINE, new_log_event
from crowdsec_mp.engine.grok import PatternLibrary
from crowdsec_mp.engine.parser import load_parsers

FIXED_NOW = datetime(2026, 3, 4, 5, 6, 7, tzinfo=timezone.utc)


def make_ctx(**kwargs) -> EngineContext:
    kwargs.setdefault("clock", lambda: FIXED_NOW)
    kwargs.setdefault("current_year", 2026)
    return EngineContext(**kwargs)


def make_tree(*files, ctx=None, patterns=None):
    """files: (stage, yaml_text) or (stage, name, yaml_text)."""
    entries = []
    for number, entry in enumerate(files):
        if len(entry) == 2:
            stage, text = entry
            name = f"/parsers/{stage}/file{number:02d}.yaml"
        else:
            stage, name, text = entry
        entries.append((stage, name, text))
    ctx = ctx or make_ctx()
    return load_parsers(entries, ctx, patterns if patterns is not None else PatternLibrary.load([]))


def log_event(raw="", labels=None, **kwargs):
    return new_log_event(raw, src="/var/log/test.log", labels=labels or {"type": "test"},
                         expect_mode=TIMEMACHINE, **kwargs)


class Recorder:
    """Collects (stage, node, snapshot, success) like hubtest does."""

    def __init__(self):
        self.calls = []

    def __call__(self, stage, name, snapshot, success):
        self.calls.append((stage, name, snapshot, success))

    def names(self):
        return [(stage, name, ok) for stage, name, _, ok in self.calls]
