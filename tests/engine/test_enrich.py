"""Enrichment methods (spec/parsers.md §6) and the GeoIP lookups.

GeoIP expectations come from ../shared/hub/geoip/CONTENTS.txt (MaxMind's public
test databases); those tests skip when ../shared is absent.
"""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from crowdsec_mp.engine.context import EngineContext
from crowdsec_mp.engine.enrich import METHODS
from crowdsec_mp.engine.enrich.geoip import GeoIPDatabases
from crowdsec_mp.engine.event import LIVE, TIMEMACHINE, ZERO_TIME, new_log_event

NOW = datetime(2030, 6, 7, 8, 9, 10, tzinfo=timezone.utc)


def make_ctx(**kwargs):
    kwargs.setdefault("clock", lambda: NOW)
    return EngineContext(**kwargs)


@pytest.fixture(scope="module")
def geoip(shared_hub):
    databases = GeoIPDatabases.open(shared_hub / "geoip")
    yield databases
    databases.close()


def test_registered_methods():
    assert set(METHODS) == {"ParseDate", "GeoIpCity", "GeoIpASN", "IpToRange", "reverse_dns", "UnmarshalJSON"}


# -- ParseDate ---------------------------------------------------------------------------------
def test_parse_date_sets_time_in_time_machine_mode():
    evt = new_log_event("x", expect_mode=TIMEMACHINE)
    result = METHODS["ParseDate"]("Feb 12 14:10:21", evt, make_ctx(current_year=2026))
    assert result == {"MarshaledTime": "2026-02-12T14:10:21Z"}
    assert evt.Time == datetime(2026, 2, 12, 14, 10, 21, tzinfo=timezone.utc)


def test_parse_date_leaves_time_alone_in_live_mode():
    evt = new_log_event("x", expect_mode=LIVE)
    result = METHODS["ParseDate"]("2021-03-04T05:06:07+02:00", evt, make_ctx())
    assert result == {"MarshaledTime": "2021-03-04T05:06:07+02:00"}
    assert evt.Time == ZERO_TIME


def test_parse_date_year_comes_from_the_clock_by_default():
    evt = new_log_event("x")
    assert METHODS["ParseDate"]("Jan  2 03:04:05", evt, make_ctx())["MarshaledTime"] == "2030-01-02T03:04:05Z"


@pytest.mark.parametrize("value", ["", "not a date"])
def test_parse_date_falls_back_to_now(value):
    evt = new_log_event("x", expect_mode=TIMEMACHINE)
    result = METHODS["ParseDate"](value, evt, make_ctx())
    assert result == {"MarshaledTime": "2030-06-07T08:09:10Z"}
    assert evt.Time == ZERO_TIME


def test_parse_date_uses_str_time_format_first():
    evt = new_log_event("x")
    evt.StrTimeFormat = "02/01/2006 15:04"
    # Without the hint, layout 5 would read this month-first (Apr 3).
    assert METHODS["ParseDate"]("03/04/2021 05:06", evt, make_ctx())["MarshaledTime"] == "2021-04-03T05:06:00Z"


# -- GeoIP --------------------------------------------------------------------------------------
def test_geoip_open_absent_directory(tmp_path):
    assert GeoIPDatabases.open(tmp_path) is None
    assert GeoIPDatabases.open(None) is None


def test_geoip_city(geoip):
    ctx = make_ctx(geoip=geoip)
    evt = new_log_event("x")
    assert METHODS["GeoIpCity"]("81.2.69.142", evt, ctx) == {
        "IsoCode": "GB", "IsInEU": "true", "Latitude": "51.514200", "Longitude": "-0.093100"}
    assert METHODS["GeoIpCity"]("216.160.83.57", evt, ctx) == {
        "IsoCode": "US", "IsInEU": "false", "Latitude": "47.251300", "Longitude": "-122.314900"}
    assert METHODS["GeoIpCity"]("2001:218::1", evt, ctx)["IsoCode"] == "JP"


def test_geoip_city_record_without_country(geoip):
    # 2a02:d500::/29 has a location but no country at all.
    assert METHODS["GeoIpCity"]("2a02:d500::1", new_log_event("x"), make_ctx(geoip=geoip)) == {
        "IsoCode": "", "IsInEU": "false", "Latitude": "48.690960", "Longitude": "9.140620"}


@pytest.mark.parametrize("value", ["", "not-an-ip", "999.1.1.1", "1.2.3"])
def test_geoip_nothing_for_empty_or_invalid(geoip, value):
    ctx = make_ctx(geoip=geoip)
    evt = new_log_event("x")
    for method in ("GeoIpCity", "GeoIpASN", "IpToRange"):
        assert METHODS[method](value, evt, ctx) == {}


@pytest.mark.parametrize("value", ["8.8.8.8", "1.2.3.4", "192.168.0.1", "2001:db8::1"])
def test_geoip_address_without_record_reads_the_zero_record(geoip, value):
    """CrowdSec's MaxMind library returns an empty record for an unknown address
    (crowdsec-testdata parsers/geoip-enrich: IsInEU false for 1.0.0.1)."""
    ctx = make_ctx(geoip=geoip)
    evt = new_log_event("x")
    assert METHODS["GeoIpCity"](value, evt, ctx) == {
        "IsoCode": "", "IsInEU": "false", "Latitude": "0.000000", "Longitude": "0.000000"}
    assert METHODS["GeoIpASN"](value, evt, ctx) == {"ASNNumber": "0", "ASNumber": "0", "ASNOrg": ""}
    assert METHODS["IpToRange"](value, evt, ctx) == {}


def test_geoip_address_only_in_asn_database(geoip):
    # 1.0.0.0/24 is in the ASN database only (crowdsec-testdata geoip-enrich, test1).
    ctx = make_ctx(geoip=geoip)
    evt = new_log_event("x")
    assert METHODS["GeoIpCity"]("1.0.0.1", evt, ctx)["IsInEU"] == "false"
    assert METHODS["GeoIpASN"]("1.0.0.1", evt, ctx)["ASNOrg"] == "Google Inc."


def test_geoip_asn(geoip):
    ctx = make_ctx(geoip=geoip)
    evt = new_log_event("x")
    assert METHODS["GeoIpASN"]("1.128.0.1", evt, ctx) == {
        "ASNNumber": "1221", "ASNumber": "1221", "ASNOrg": "Telstra Pty Ltd"}
    assert METHODS["GeoIpASN"]("12.81.96.5", evt, ctx) == {"ASNNumber": "7018", "ASNumber": "7018", "ASNOrg": ""}
    assert METHODS["GeoIpASN"]("2003::1", evt, ctx)["ASNOrg"] == "Deutsche Telekom AG"


def test_ip_to_range(geoip):
    ctx = make_ctx(geoip=geoip)
    evt = new_log_event("x")
    assert METHODS["IpToRange"]("1.128.0.1", evt, ctx) == {"SourceRange": "1.128.0.0/11"}
    assert METHODS["IpToRange"]("12.81.92.200", evt, ctx) == {"SourceRange": "12.81.92.0/22"}
    assert METHODS["IpToRange"]("2003::1", evt, ctx) == {"SourceRange": "2003::/19"}


def test_geoip_methods_without_databases():
    ctx = make_ctx()
    evt = new_log_event("x")
    for method in ("GeoIpCity", "GeoIpASN", "IpToRange"):
        assert METHODS[method]("81.2.69.142", evt, ctx) == {}


class DictReader:
    """A stand-in for a maxminddb reader (a third-party class) holding given records,
    for country fallbacks the public test database does not contain."""

    def __init__(self, record):
        self.record = record

    def get(self, address):
        return self.record


@pytest.mark.parametrize(
    "record, iso, eu",
    [
        ({"registered_country": {"iso_code": "DE", "is_in_european_union": True}}, "DE", "true"),
        ({"represented_country": {"iso_code": "US"}}, "US", "false"),
        ({"country": {"iso_code": "FR", "is_in_european_union": True},
          "registered_country": {"iso_code": "US"}}, "FR", "true"),
    ],
)
def test_geoip_country_fallback_chain(record, iso, eu):
    lookup = GeoIPDatabases(city_reader=DictReader(record)).city("10.0.0.1")
    assert (lookup["IsoCode"], lookup["IsInEU"], lookup["Latitude"]) == (iso, eu, "0.000000")


# -- reverse_dns ----------------------------------------------------------------------------------
def test_reverse_dns_offline_returns_nothing():
    assert METHODS["reverse_dns"]("1.2.3.4", new_log_event("x"), make_ctx()) == {}


def test_reverse_dns_with_resolver():
    names = {"1.2.3.4": ["host.example.org."], "5.6.7.8": "other.example.org.", "9.9.9.9": None}

    def resolver(ip):
        if ip == "6.6.6.6":
            raise OSError("lookup failed")
        return names.get(ip)

    ctx = make_ctx(extras={"resolver": resolver})
    evt = new_log_event("x")
    assert METHODS["reverse_dns"]("1.2.3.4", evt, ctx) == {"reverse_dns": "host.example.org."}
    assert METHODS["reverse_dns"]("5.6.7.8", evt, ctx) == {"reverse_dns": "other.example.org."}
    assert METHODS["reverse_dns"]("9.9.9.9", evt, ctx) == {}
    assert METHODS["reverse_dns"]("6.6.6.6", evt, ctx) == {}
    assert METHODS["reverse_dns"]("not-an-ip", evt, ctx) == {}


# -- UnmarshalJSON ------------------------------------------------------------------------------------
def test_unmarshal_json_merges_into_unmarshaled():
    evt = new_log_event('{"a": 1, "b": {"c": "d"}}')
    evt.Unmarshaled["kept"] = True
    evt.Unmarshaled["a"] = "old"
    assert METHODS["UnmarshalJSON"]("ignored", evt, make_ctx()) == {}
    assert evt.Unmarshaled == {"kept": True, "a": 1, "b": {"c": "d"}}


@pytest.mark.parametrize("raw", ["not json", "[1, 2]", "", '{"a": '])
def test_unmarshal_json_bad_input_changes_nothing(raw):
    evt = new_log_event(raw)
    assert METHODS["UnmarshalJSON"]("", evt, make_ctx()) == {}
    assert evt.Unmarshaled == {}


def test_geoip_corrupt_database_is_a_config_error(tmp_path):
    from crowdsec_mp.errors import ConfigError

    (tmp_path / "GeoLite2-ASN.mmdb").write_bytes(b"this is not a maxmind database")
    with pytest.raises(ConfigError, match="GeoLite2-ASN.mmdb"):
        GeoIPDatabases.open(tmp_path)


def test_geoip_only_one_database(tmp_path, shared_hub):
    (tmp_path / "GeoLite2-ASN.mmdb").write_bytes((shared_hub / "geoip" / "GeoLite2-ASN.mmdb").read_bytes())
    databases = GeoIPDatabases.open(tmp_path)
    ctx = make_ctx(geoip=databases)
    evt = new_log_event("x")
    assert METHODS["GeoIpCity"]("81.2.69.142", evt, ctx) == {}  # no City database at all
    assert METHODS["GeoIpASN"]("1.128.0.1", evt, ctx)["ASNNumber"] == "1221"
    databases.close()
