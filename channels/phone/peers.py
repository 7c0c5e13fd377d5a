"""Who may talk to the phone line: the trunk addresses allowed to send SIP, as numeric addresses only."""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Iterable

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# With neither a registrar nor SIP_ALLOWED_PEERS, calls come from a PBX or phone on the local network.
LOCAL_NETWORKS = ("127.0.0.0/8", "::1/128", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")
# A refused address is logged at most this often: a scanner's flood must not flood the log too.
_LOG_EVERY_S = 60.0
_REMEMBERED = 1024


def parse_networks(entries: Iterable[str]) -> tuple[IpNetwork, ...]:
    """Addresses or CIDR networks as networks; ValueError naming an entry that is neither (host names included)."""
    networks = []
    for entry in entries:
        entry = entry.strip().strip("[]")
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError as err:
            raise ValueError(f"{entry!r} is not an IP address or network (e.g. 203.0.113.5 or 203.0.113.0/24)") from err
    return tuple(networks)


def is_numeric_address(host: str) -> bool:
    """True for an IPv4 or IPv6 address, False for a host name (which would need a DNS lookup)."""
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


class PeerAllowList:
    """The addresses SIP is taken from: the registrar's, the configured peers' or, by default, the local networks."""

    def __init__(self, networks: Iterable[IpNetwork]) -> None:
        self.networks = tuple(networks)
        self._logged: dict[str, float] = {}

    @classmethod
    def build(cls, peers: Iterable[str] | None, registrar_ip: str | None) -> PeerAllowList:
        """The registrar plus SIP_ALLOWED_PEERS; the local networks when neither is configured."""
        peers = tuple(peers or ())
        if not peers and registrar_ip is None:
            return cls(parse_networks(LOCAL_NETWORKS))
        return cls(parse_networks((*peers, *([registrar_ip] if registrar_ip else []))))

    def allows(self, host: str) -> bool:
        """True when SIP from this address is taken."""
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return any(address in network for network in self.networks)

    def worth_logging(self, host: str) -> bool:
        """True the first time an address is refused in a while (one log line per scanner, not one per packet)."""
        now = time.monotonic()
        if now - self._logged.get(host, -_LOG_EVERY_S) < _LOG_EVERY_S:
            return False
        if len(self._logged) >= _REMEMBERED:
            self._logged.clear()
        self._logged[host] = now
        return True

    def __str__(self) -> str:
        return ", ".join(str(network) for network in self.networks)
