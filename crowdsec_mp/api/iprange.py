"""IP addresses and CIDR ranges as sortable integer bounds.

A decision on an Ip/Range value is stored with its first and last address as
two 64-bit halves each (`start_hi`, `start_lo`, `end_hi`, `end_lo`), so that
"which decisions contain this address" is an index range query on every
backend (SQLite, PostgreSQL and MySQL all have signed 64-bit integers, none
has a portable unsigned 128-bit type). Each unsigned half is stored minus 2**63
so that signed order equals unsigned order. IPv4 addresses use hi = 0 and are
told apart from IPv6 by `ip_size` (4 or 16; 0 for values that are not IPs).
"""

from __future__ import annotations

import ipaddress
from typing import NamedTuple

_BIAS = 1 << 63
_MASK64 = (1 << 64) - 1


class IPBounds(NamedTuple):
    ip_size: int  # 4, 16
    start_hi: int
    start_lo: int
    end_hi: int
    end_lo: int

    @property
    def is_range(self) -> bool:
        return (self.start_hi, self.start_lo) != (self.end_hi, self.end_lo)


def _halves(value: int) -> tuple[int, int]:
    return (value >> 64) - _BIAS, (value & _MASK64) - _BIAS


def parse_ip_or_range(text: str) -> IPBounds:
    """Bounds of an address (`1.2.3.4`, `::1`) or CIDR (`1.2.3.0/24`).

    Raises ValueError with a message naming the value when it is neither.
    Host bits in a CIDR are ignored (`1.2.3.4/24` is `1.2.3.0/24`), as
    CrowdSec's net.ParseCIDR does.
    """
    if not isinstance(text, str) or not text or text.strip() != text:
        raise ValueError(f"'{text}' is not a valid ip address / range")
    try:
        if "/" in text:
            network = ipaddress.ip_network(text, strict=False)
            first, last = int(network.network_address), int(network.broadcast_address)
            size = 4 if network.version == 4 else 16
        else:
            address = ipaddress.ip_address(text)
            first = last = int(address)
            size = 4 if address.version == 4 else 16
    except ValueError:
        raise ValueError(f"'{text}' is not a valid ip address / range") from None
    return IPBounds(size, *_halves(first), *_halves(last))


def try_bounds(text) -> IPBounds | None:
    try:
        return parse_ip_or_range(text)
    except ValueError:
        return None
