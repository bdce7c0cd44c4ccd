"""Who is at the other end of a request behind reverse proxies.

The socket peer is the client unless it is a trusted proxy; then the client is the right-most
address of ``X-Forwarded-For`` that is not itself a trusted proxy (each proxy appends the
address it was reached from, so everything left of the last trusted hop was written by the
client and proves nothing). With no trusted proxies the header is ignored.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network

Network = IPv4Network | IPv6Network
MAX_HEADER = 4096


def parse_networks(text: str) -> tuple[Network, ...]:
    """Comma-separated IP addresses and CIDR ranges (``10.0.0.0/8, ::1``); a ValueError naming
    the first entry that is neither."""
    networks: list[Network] = []
    for part in text.split(","):
        entry = part.strip()
        if not entry:
            continue
        try:
            networks.append(ip_network(entry, strict=False))
        except ValueError:
            raise ValueError(f"{entry!r} is not an IP address or CIDR range") from None
    return tuple(networks)


def _address(text: str) -> IPv4Address | IPv6Address | None:
    value = text.strip()
    if value.startswith("[") and "]" in value:  # [v6]:port
        value = value[1 : value.index("]")]
    elif value.count(":") == 1:  # v4:port
        value = value.split(":", 1)[0]
    try:
        return ip_address(value)
    except ValueError:
        return None


def _trusted(address: IPv4Address | IPv6Address | None, trusted: Sequence[Network]) -> bool:
    return address is not None and any(address in network for network in trusted)


def client_address(
    peer: str | None, forwarded_for: Iterable[str], trusted: Sequence[Network]
) -> str:
    """The client's address: ``peer`` unless it is a trusted proxy, then the right-most
    untrusted entry of the ``X-Forwarded-For`` values (in header order). An entry that is no
    address stops the walk at the last trusted hop (a proxy that forwards garbage is answered
    as itself, never as what the garbage claims)."""
    peer_text = peer or "unknown"
    if not trusted or not _trusted(_address(peer_text), trusted):
        return peer_text
    hops = [hop for value in forwarded_for for hop in value[:MAX_HEADER].split(",") if hop.strip()]
    last = peer_text
    for hop in reversed(hops):
        address = _address(hop)
        if address is None:
            return last
        if not _trusted(address, trusted):
            return str(address)
        last = str(address)
    return last
