"""A small hub written from scratch in each test, indexed by our index builder."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from crowdsec_mp.hub.build_index import build_index, index_text

PARSER_SSH = """\
name: test/ssh-parse
description: "parse ssh"
filter: "evt.Parsed.program == 'sshd'"
onsuccess: next_stage
statics:
  - meta: service
    value: ssh
"""
PARSER_RAW = """\
name: test/raw
description: "raw"
filter: "1 == 1"
onsuccess: next_stage
statics:
  - parsed: message
    expression: evt.Line.Raw
"""
SCENARIO_BF = """\
type: leaky
name: test/ssh-bf
description: "bf"
filter: "evt.Meta.service == 'ssh'"
groupby: evt.Meta.source_ip
capacity: 3
leakspeed: 10s
data:
  - dest_file: test_users.txt
    type: string
labels:
  remediation: true
"""
SCENARIO_OTHER = """\
type: trigger
name: test/other
description: "other"
filter: "evt.Meta.service == 'ssh'"
"""
COLLECTION_SSH = """\
name: test/sshd
description: "ssh collection"
parsers:
  - test/ssh-parse
scenarios:
  - test/ssh-bf
"""
COLLECTION_BASE = """\
name: test/base
description: "base collection"
parsers:
  - test/raw
collections:
  - test/sshd
"""
COLLECTION_OTHER = """\
name: test/other-col
description: "shares test/ssh-parse with test/sshd"
parsers:
  - test/ssh-parse
scenarios:
  - test/other
"""


class HubBuilder:
    """Writes item files into a hub directory and (re)builds its index."""

    def __init__(self, root: Path):
        self.root = root

    def write(self, relpath: str, text: str) -> Path:
        path = self.root / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    def index(self) -> dict:
        index_path = self.root / ".index.json"
        previous = json.loads(index_path.read_text()) if index_path.is_file() else {}
        index = build_index(self.root, previous)
        index_path.write_text(index_text(index), encoding="utf-8")
        return index


@pytest.fixture
def small_hub(tmp_path) -> HubBuilder:
    hub = HubBuilder(tmp_path / "hub")
    hub.write("parsers/s00-raw/test/raw.yaml", PARSER_RAW)
    hub.write("parsers/s01-parse/test/ssh-parse.yaml", PARSER_SSH)
    hub.write("scenarios/test/ssh-bf.yaml", SCENARIO_BF)
    hub.write("scenarios/test/other.yaml", SCENARIO_OTHER)
    hub.write("collections/test/sshd.yaml", COLLECTION_SSH)
    hub.write("collections/test/base.yaml", COLLECTION_BASE)
    hub.write("collections/test/other-col.yaml", COLLECTION_OTHER)
    hub.write("data/test_users.txt", "root\nadmin\n")
    hub.index()
    return hub
