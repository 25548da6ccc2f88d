"""CrowdSec's own parser cases (../shared/crowdsec-testdata/parsers), loaded as data.

Each case: `parsers.yaml` lists files with their stage, `test.yaml` gives input
events (`lines`) and the expected events (`results`, compared as subsets, in order).
"""

from __future__ import annotations


import pytest
import yaml

from crowdsec_mp.engine.event import Event, Line
from crowdsec_mp.engine.grok import PatternLibrary
from crowdsec_mp.engine.parser import load_parsers
from crowdsec_mp.engine.parser.spec import StringScalarLoader

from tests.engine.test_parser_support import make_ctx

from tests.conftest import SHARED_DIR

CASES_DIR = SHARED_DIR / "crowdsec-testdata" / "parsers" if SHARED_DIR else None
CASES = sorted(p.name for p in CASES_DIR.iterdir() if (p / "test.yaml").is_file()) if CASES_DIR else []

#: Cases that cannot pass here, with the reason (strict xfail).
EXPECTED_FAILURES: dict = {}

#: The reverse-dns case needs a resolver: an offline table with the answers it expects.
PTR_RECORDS = {"1.1.1.1": "one.one.one.one."}


def build_event(spec: dict) -> Event:
    line = spec.get("Line") or {}
    return Event(
        Line=Line(Raw=line.get("Raw") or "", Labels=dict(line.get("Labels") or {})),
        Parsed=dict(spec.get("Parsed") or {}), Meta=dict(spec.get("Meta") or {}),
        Enriched=dict(spec.get("Enriched") or {}), StrTime=str(spec.get("StrTime") or ""),
    )


def go_text(value) -> str:
    """How a YAML scalar of the expected file reads as a Go string field."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def check_subset(expected: dict, evt: Event, where: str):
    for field_name in ("Process", "Stage", "Whitelisted"):
        if field_name in expected:
            assert go_text(getattr(evt, field_name)) == go_text(expected[field_name]), f"{where}: {field_name}"
    for field_name in ("Parsed", "Meta", "Enriched"):
        for key, value in (expected.get(field_name) or {}).items():
            assert evt.__getattribute__(field_name)[key] == go_text(value), f"{where}: {field_name}[{key}]"
    if "Line" in expected and "Raw" in (expected["Line"] or {}):
        assert evt.Line.Raw == expected["Line"]["Raw"]


# `Unmarshaled` is not compared: CrowdSec's own harness does not check it either
# (json-unmarshal expects `JSON: {}` for a non-JSON line, which nothing produces);
# test_json_unmarshal_method below checks what the method really does.


def _case_params():
    return [
        pytest.param(c, marks=pytest.mark.xfail(reason=EXPECTED_FAILURES[c], strict=True))
        if c in EXPECTED_FAILURES else c
        for c in CASES
    ]


def run_case(case, shared_dir):
    case_dir = CASES_DIR / case
    listing = yaml.safe_load((case_dir / "parsers.yaml").read_text().replace("{{.TestDirectory}}", str(case_dir)))
    files = [(entry["stage"], entry["filename"]) for entry in listing]
    geoip = None
    if case == "geoip-enrich":
        from crowdsec_mp.engine.enrich.geoip import GeoIPDatabases

        geoip = GeoIPDatabases.open(str(CASES_DIR))
    # Data files (`./sample_strings.txt`) are relative to the cases directory, as in CrowdSec.
    ctx = make_ctx(data_dir=str(CASES_DIR), geoip=geoip, extras={"resolver": PTR_RECORDS.get})
    tree = load_parsers(files, ctx, PatternLibrary.load([str(shared_dir / "hub" / "patterns")]))
    # Scalars as text, like the Go string fields they are compared with (`yes` stays "yes").
    test = yaml.load((case_dir / "test.yaml").read_text(), Loader=StringScalarLoader)
    outputs = [tree.parse(build_event(line)) for line in test["lines"]]
    return test, outputs


@pytest.mark.parametrize("case", _case_params())
def test_crowdsec_parser_case(case, shared_dir):
    test, outputs = run_case(case, shared_dir)
    assert len(outputs) == len(test["results"])
    for number, (expected, evt) in enumerate(zip(test["results"], outputs)):
        check_subset(expected, evt, f"{case} event {number}")


def test_json_unmarshal_method(shared_dir):
    _, outputs = run_case("json-unmarshal", shared_dir)
    assert outputs[0].Unmarshaled["foo"] == "bar" and outputs[0].Unmarshaled["pouet"] == 42
    assert outputs[1].Unmarshaled == {} and outputs[1].Process is True
