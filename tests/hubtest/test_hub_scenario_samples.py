"""A few hub tests with scenarios and postoverflows: the whole replay path (parsers ->
buckets -> postoverflows -> sorted overflows -> scenario.assert) in one process.

The full set runs with `cscli-mp hubtest run --hub ../shared/hub --all --jobs 2`; these
samples keep the integration covered in the unit suite at a small cost.
"""

import pytest

from crowdsec_mp.hubtest import HubTestOptions, run_replay, run_test

SAMPLES = ["ipv6-postoverflow", "sshd-invalid-bf", "ssh-time-based-bf"]


@pytest.fixture(scope="module")
def options(shared_hub):
    return HubTestOptions(hub_dir=shared_hub, tests_dir=shared_hub / "tests", year=2026)


@pytest.mark.parametrize("name", SAMPLES)
def test_scenario_hub_test(name, options):
    result = run_test(options.tests_dir / name, options)
    assert result.success, result.error or result.failures[:10]
    assert result.scenario_total > 0


def test_postoverflow_results_are_recorded_with_parser_results(options):
    _, replayed, _ = run_replay(options.tests_dir / "ipv6-postoverflow", options)
    assert replayed.overflows, "the scenario must overflow"
    recorded = replayed.parser_results["s00-enrich"]["crowdsecurity/ipv6_to_range"]
    assert len(recorded) == len(replayed.overflows)
    assert all(entry.Evt.Type == 1 for entry in recorded)


def test_expected_failure_without_full_geoip_databases(options):
    # sshd-impossible-travel needs the real GeoLite2 databases (hub README, MISSING.txt).
    result = run_test(options.tests_dir / "sshd-impossible-travel", options)
    assert not result.success
