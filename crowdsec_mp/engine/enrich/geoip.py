"""MaxMind GeoLite2 lookups for GeoIpCity / GeoIpASN / IpToRange (spec/parsers.md §6.2).

`GeoIPDatabases.open(directory)` opens `GeoLite2-City.mmdb` and
`GeoLite2-ASN.mmdb` (either may be missing) once per process, at load time.
The lookup methods return the string maps the enrichment methods merge into
`Enriched`; an invalid IP or a missing database gives an empty map, never an
exception. An address the database has no record for is looked up as
CrowdSec's MaxMind library does it: as an empty (zero) record, so GeoIpCity
still reports IsInEU "false" and GeoIpASN ASNNumber "0" (crowdsec-testdata
parsers/geoip-enrich expects this; IpToRange gives nothing).
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from pathlib import Path

import maxminddb

from crowdsec_mp.errors import ConfigError

CITY_FILE = "GeoLite2-City.mmdb"
ASN_FILE = "GeoLite2-ASN.mmdb"


def _ip(text: str):
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


#: Distinct addresses whose lookup results are kept per database pair.
LOOKUP_CACHE_SIZE = 65536


class GeoIPDatabases:
    """The two MaxMind readers (each may be None).

    Lookups are cached per IP text: a MaxMind lookup costs tens of
    microseconds (more than the rest of a line's parsing) and the same
    sources come back line after line. The databases do not change while
    open, so a cached result is the result; callers get a fresh copy of it.
    """

    def __init__(self, city_reader=None, asn_reader=None):
        self.city_reader = city_reader
        self.asn_reader = asn_reader
        self._city_cached = lru_cache(maxsize=LOOKUP_CACHE_SIZE)(self.city_uncached)
        self._asn_cached = lru_cache(maxsize=LOOKUP_CACHE_SIZE)(self.asn_uncached)
        self._range_cached = lru_cache(maxsize=LOOKUP_CACHE_SIZE)(self.ip_range_uncached)

    @classmethod
    def open(cls, directory) -> "GeoIPDatabases | None":
        """Open the databases found in `directory`; None when both are absent.
        A file that is present but unreadable is a ConfigError naming it."""
        if directory is None:
            return None
        directory = Path(directory)
        readers = []
        for name in (CITY_FILE, ASN_FILE):
            path = directory / name
            if not path.is_file():
                readers.append(None)
                continue
            try:
                readers.append(maxminddb.open_database(str(path)))
            except (OSError, ValueError, maxminddb.InvalidDatabaseError) as exc:
                for reader in readers:
                    if reader is not None:
                        reader.close()
                raise ConfigError(f"cannot open GeoIP database: {exc}", file=path) from None
        if readers == [None, None]:
            return None
        return cls(*readers)

    def close(self) -> None:
        for cached in (self._city_cached, self._asn_cached, self._range_cached):
            cached.cache_clear()  # a closed database answers nothing any more
        for reader in (self.city_reader, self.asn_reader):
            if reader is not None:
                reader.close()

    # -- lookups ------------------------------------------------------------
    def city(self, ip_text: str) -> dict[str, str]:
        """`city_uncached`, cached per IP text."""
        return dict(self._city_cached(ip_text)) if isinstance(ip_text, str) else self.city_uncached(ip_text)

    def asn(self, ip_text: str) -> dict[str, str]:
        """`asn_uncached`, cached per IP text."""
        return dict(self._asn_cached(ip_text)) if isinstance(ip_text, str) else self.asn_uncached(ip_text)

    def ip_range(self, ip_text: str) -> dict[str, str]:
        """`ip_range_uncached`, cached per IP text."""
        return dict(self._range_cached(ip_text)) if isinstance(ip_text, str) else self.ip_range_uncached(ip_text)

    def city_uncached(self, ip_text: str) -> dict[str, str]:
        """IsoCode (country, else registered, else represented country), IsInEU,
        Latitude, Longitude (`%f`). An address without a record gets the
        zero record's values, as in CrowdSec (its MaxMind library returns an
        empty record, not an error): "", "false", "0.000000"."""
        record = self._lookup(self.city_reader, ip_text)
        if record is None:
            return {}
        iso_code, in_eu = "", False
        for key in ("country", "registered_country", "represented_country"):
            country = record.get(key) or {}
            if country.get("iso_code"):
                iso_code = country["iso_code"]
                in_eu = bool(country.get("is_in_european_union", False))
                break
        location = record.get("location") or {}
        return {
            "IsoCode": iso_code,
            "IsInEU": "true" if in_eu else "false",
            "Latitude": "%f" % float(location.get("latitude") or 0.0),
            "Longitude": "%f" % float(location.get("longitude") or 0.0),
        }

    def asn_uncached(self, ip_text: str) -> dict[str, str]:
        """ASNNumber / ASNumber (same decimal text) and ASNOrg; "0" / "" for an
        address without a record (the zero record, as in CrowdSec)."""
        record = self._lookup(self.asn_reader, ip_text)
        if record is None:
            return {}
        number = str(record.get("autonomous_system_number") or 0)
        return {
            "ASNNumber": number,
            "ASNumber": number,
            "ASNOrg": record.get("autonomous_system_organization") or "",
        }

    def ip_range_uncached(self, ip_text: str) -> dict[str, str]:
        """SourceRange: the CIDR of the ASN database network holding the IP."""
        address = _ip(ip_text)
        if address is None or self.asn_reader is None:
            return {}
        try:
            record, prefix_length = self.asn_reader.get_with_prefix_len(address)
        except (ValueError, maxminddb.InvalidDatabaseError):
            return {}
        if record is None:
            return {}
        network = ipaddress.ip_network(f"{address}/{prefix_length}", strict=False)
        return {"SourceRange": str(network)}

    @staticmethod
    def _lookup(reader, ip_text: str):
        """The record ({} when the address has none); None when there is no
        database, the text is not an IP, or the lookup fails."""
        if reader is None or not ip_text:
            return None
        address = _ip(ip_text)
        if address is None:
            return None
        try:
            record = reader.get(address)
        except (ValueError, maxminddb.InvalidDatabaseError):
            return None
        return record if isinstance(record, dict) else {}
