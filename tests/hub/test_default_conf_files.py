"""The default conf.d files load with the real loaders and mean what they say."""

from __future__ import annotations

import pytest

from crowdsec_mp.acquisition.config import load_acquisition
from crowdsec_mp.api.profiles import decisions_for_alert, load_profiles


def test_acquisition_defaults(repo_root):
    conf = repo_root / "conf.d"
    sources = load_acquisition(conf / "acquis.yaml", conf / "acquis.d")
    types = {spec.labels["type"] for spec in sources}
    assert types == {"syslog", "nginx", "apache2"}
    assert all(spec.source == "file" and spec.mode == "tail" for spec in sources)


def alert(scope, remediation=True, value="192.0.2.1"):
    return {
        "scenario": "crowdsec-mp/ssh-bf", "remediation": remediation, "simulated": False,
        "events_count": 6, "message": "test", "capacity": 5, "leakspeed": "10s",
        "start_at": "2024-03-10T06:00:00Z", "stop_at": "2024-03-10T06:00:10Z",
        "scenario_hash": "", "scenario_version": "", "events": [],
        "source": {"scope": scope, "value": value, "ip": value if scope == "Ip" else ""},
    }


@pytest.mark.parametrize("scope,value", [("Ip", "192.0.2.1"), ("Range", "192.0.2.0/24")])
def test_profiles_ban_4h_for_remediation_alerts(repo_root, scope, value):
    profiles = load_profiles(repo_root / "conf.d" / "profiles.yaml")
    decisions = decisions_for_alert(profiles, alert(scope, value=value), now_us=0)
    assert [(d["type"], d["duration"], d["scope"], d["value"]) for d in decisions] == [("ban", "4h", scope, value)]


def test_profiles_no_decision_without_remediation(repo_root):
    profiles = load_profiles(repo_root / "conf.d" / "profiles.yaml")
    assert decisions_for_alert(profiles, alert("Ip", remediation=False), now_us=0) == []
