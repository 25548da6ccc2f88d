"""GeoIP lookups are cached per IP text without changing any result."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crowdsec_mp.engine.enrich.geoip import GeoIPDatabases

# Addresses of MaxMind's public test databases (../shared/hub/geoip/CONTENTS.txt),
# plus addresses without a record and texts that are not addresses.
ADDRESSES = ["81.2.69.160", "1.128.0.0", "2.125.160.216", "89.160.20.112", "2001:480::1",
             "10.0.0.1", "8.8.8.8", "::1", "", "not-an-ip", "1.2.3", "300.1.1.1"]


@pytest.fixture(scope="module")
def geoip(shared_hub):
    databases = GeoIPDatabases.open(shared_hub / "geoip")
    yield databases
    databases.close()


@pytest.mark.parametrize("address", ADDRESSES)
def test_cached_lookups_equal_uncached_ones(geoip, address):
    for _ in range(2):  # the second round is served from the cache
        assert geoip.city(address) == geoip.city_uncached(address)
        assert geoip.asn(address) == geoip.asn_uncached(address)
        assert geoip.ip_range(address) == geoip.ip_range_uncached(address)


def test_known_addresses_really_have_records(geoip):
    # Guards the test above against comparing empty maps only.
    assert geoip.city("81.2.69.160")["IsoCode"] == "GB"
    assert geoip.asn("1.128.0.0")["ASNNumber"] == "1221"
    assert geoip.ip_range("1.128.0.0") == {"SourceRange": "1.128.0.0/11"}


@settings(max_examples=150, deadline=None)
@given(st.one_of(st.ip_addresses().map(str), st.text(max_size=15)))
def test_cached_lookups_equal_uncached_ones_for_any_text(geoip, text):
    assert geoip.city(text) == geoip.city_uncached(text)
    assert geoip.asn(text) == geoip.asn_uncached(text)
    assert geoip.ip_range(text) == geoip.ip_range_uncached(text)


def test_callers_get_their_own_copy(geoip):
    first = geoip.city("81.2.69.160")
    first["IsoCode"] = "changed by a caller"
    assert geoip.city("81.2.69.160")["IsoCode"] == "GB"


@pytest.mark.parametrize("value", [None, 12, 3232235777, ["x"]])
def test_non_string_values_are_looked_up_without_the_cache(geoip, value):
    # Unhashable or odd values bypass the cache and behave as before.
    assert geoip.city(value) == geoip.city_uncached(value)
    assert geoip.asn(value) == geoip.asn_uncached(value)
    assert geoip.ip_range(value) == geoip.ip_range_uncached(value)


def test_close_forgets_cached_results(shared_hub):
    databases = GeoIPDatabases.open(shared_hub / "geoip")
    assert databases.city("81.2.69.160")["IsoCode"] == "GB"
    databases.close()
    assert databases.city("81.2.69.160") == databases.city_uncached("81.2.69.160")
