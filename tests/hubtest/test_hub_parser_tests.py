"""Every parser-only hub test of ../shared/hub/tests must pass its parser.assert.

Parser-only = config without a non-empty `scenarios` list. Tests that cannot pass
offline are listed in EXPECTED_FAILURES with the reason (strict xfail: if one
starts passing, the list must be updated).
"""

from __future__ import annotations

import pytest
import yaml

from crowdsec_mp.hubtest import HubTestOptions, run_test

from tests.conftest import SHARED_DIR

#: Syslog-style dates without a year get this year; hub asserts were generated in 2026.
ASSERT_YEAR = 2026

#: test name -> why it cannot pass here.
EXPECTED_FAILURES: dict[str, str] = {}


def _parser_only_tests():
    if SHARED_DIR is None:
        return []
    names = []
    for config in sorted((SHARED_DIR / "hub" / "tests").glob("*/config.yaml")):
        raw = yaml.safe_load(config.read_text()) or {}
        if not any(s for s in raw.get("scenarios") or [] if s):
            names.append(config.parent.name)
    return names


PARSER_ONLY = _parser_only_tests()


@pytest.fixture(scope="module")
def options(shared_hub):
    return HubTestOptions(hub_dir=shared_hub, tests_dir=shared_hub / "tests", year=ASSERT_YEAR)


def test_the_snapshot_has_parser_only_tests(shared_hub):
    assert len(PARSER_ONLY) > 50


@pytest.mark.parametrize("name", [
    pytest.param(n, marks=pytest.mark.xfail(reason=EXPECTED_FAILURES[n], strict=True))
    if n in EXPECTED_FAILURES else n
    for n in PARSER_ONLY
])
def test_hub_parser_test(name, options):
    result = run_test(options.tests_dir / name, options)
    details = result.error or "\n".join(
        f"{f.file}:{f.line_number}: {f.expression}  (got {f.value})" for f in result.failures[:15]
    )
    assert result.success, f"{name}: {details}"
    assert result.parser_total > 0
