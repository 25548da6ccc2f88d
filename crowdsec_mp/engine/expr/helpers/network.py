"""IP helpers with Go `net` parsing rules, and the offline network helpers
(spec/expr.md §3.3, §5): no DNS, HTTP or CTI calls ever leave the process."""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from crowdsec_mp.engine.expr.errors import ExprRuntimeError
from crowdsec_mp.engine.expr.gostrings import need_str


@lru_cache(maxsize=8192)
def parse_go_ip(text: str):
    """Go net.ParseIP: an IPv4Address (also for `::ffff:a.b.c.d`), an
    IPv6Address, or None. No zones, ports, brackets or leading-zero octets."""
    if not text or "%" in text or "/" in text:
        return None
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


@lru_cache(maxsize=4096)
def parse_go_cidr(text: str):
    """Go net.ParseCIDR: `addr/prefixlen` (decimal length only) -> network or None."""
    address_text, slash, prefix_text = text.partition("/")
    if not slash or not prefix_text.isdigit() or not prefix_text.isascii():
        return None
    address = parse_go_ip(address_text)
    if address is None:
        return None
    prefix = int(prefix_text)
    mapped_v4 = isinstance(address, ipaddress.IPv4Address) and ":" in address_text
    if mapped_v4:
        # An IPv4-mapped address with a 128-bit prefix: keep Go's behaviour of
        # treating /96+ as the IPv4 part.
        if prefix < 96 or prefix > 128:
            return None
        prefix -= 96
    if prefix > address.max_prefixlen:
        return None
    return ipaddress.ip_network(f"{address}/{prefix}", strict=False)


def IpInRange(ip, cidr):
    return _ip_in_range(need_str(ip, "IpInRange"), need_str(cidr, "IpInRange", 2))


@lru_cache(maxsize=16384)
def _ip_in_range(ip: str, cidr: str) -> bool:
    """Pure, and called several times per event with the same source IP
    (whitelists, postoverflows): cached."""
    address = parse_go_ip(ip)
    network = parse_go_cidr(cidr)
    if address is None or network is None or address.version != network.version:
        return False
    return address in network


def IsIPV4(s):
    address = parse_go_ip(need_str(s, "IsIPV4"))
    return isinstance(address, ipaddress.IPv4Address)


def IsIPV6(s):
    address = parse_go_ip(need_str(s, "IsIPV6"))
    return isinstance(address, ipaddress.IPv6Address)


def IsIP(s):
    return parse_go_ip(need_str(s, "IsIP")) is not None


def IpToRange(ip, mask):
    address = parse_go_ip(need_str(ip, "IpToRange"))
    mask_text = need_str(mask, "IpToRange", 2)
    mask_text = mask_text[1:] if mask_text.startswith("/") else mask_text
    if address is None or not mask_text.isdigit() or not mask_text.isascii():
        return ""
    prefix = int(mask_text)
    if prefix > address.max_prefixlen:
        return ""
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))


def LookupHost(host):
    need_str(host, "LookupHost")
    return []  # offline engine: DNS resolution "fails"


def CrowdsecCTI(ip):
    return None  # no CTI API key in an offline engine


def _http_unavailable(name):
    def helper(*args):
        raise ExprRuntimeError(f"{name}(): outbound HTTP is disabled in this engine")
    helper.__name__ = name
    return helper


def MatchKnownBot(ip, user_agent, path, *files):
    return False  # needs forward-confirmed reverse DNS (network)


def JA4H(request):
    return ""  # appsec only


FUNCTIONS = {
    "IpInRange": IpInRange,
    "IsIPV4": IsIPV4,
    "IsIPV6": IsIPV6,
    "IsIP": IsIP,
    "IpToRange": IpToRange,
    "LookupHost": LookupHost,
    "CrowdsecCTI": CrowdsecCTI,
    "MatchKnownBot": MatchKnownBot,
    "JA4H": JA4H,
    "HTTPGet": _http_unavailable("HTTPGet"),
    "HTTPHead": _http_unavailable("HTTPHead"),
    "HTTPPost": _http_unavailable("HTTPPost"),
    "HTTPRequest": _http_unavailable("HTTPRequest"),
}
