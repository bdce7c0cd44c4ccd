"""Outgoing connections reach public addresses only (SSRF), checked where the socket connects.

A connection URL (a vendor's API root, an OAuth token endpoint, a chat webhook) is typed by a
person, or comes from a vendor's answer (a next-page link). Left alone, it could make shelfware
call the cloud metadata service (169.254.169.254), a database on the private network, or itself.

- `refusal(address)` says why an IP address is not public: loopback, private (RFC 1918),
  link-local, unique-local (fc00::/7), unspecified, multicast, reserved or otherwise not
  globally routable; an IPv4 address inside IPv6 (IPv4-mapped, 6to4, Teredo, NAT64) is judged
  as the IPv4 address it carries.
- `GuardedBackend` / `GuardedSyncBackend` are httpcore network backends: they resolve the host
  themselves, refuse the connection when ANY resolved address is not public, and connect to
  the very address they checked. The URL (so the Host header and the TLS server name) is
  unchanged. A name that resolves to a public address when a person looks at it and to a
  private one when shelfware connects (DNS rebinding) is therefore still refused.
- `guarded_async_client()` / `guarded_client()` are httpx clients using them.

Private addresses are allowed when ``SHELFWARE_ALLOW_PRIVATE_URLS`` is true (sandboxes, the
demo, tests, on-premise apps on a private network): `private_urls_allowed()` reads it at
connect time, so the setting applies to every client, whoever built it.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import socket
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

import httpcore
import httpx

ALLOW_PRIVATE_ENV = "SHELFWARE_ALLOW_PRIVATE_URLS"
_TRUE = frozenset({"1", "true", "t", "yes", "y", "on"})

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# host, port -> the addresses the host resolves to (text), in the order to try them
Resolver = Callable[[str, int], Awaitable[Sequence[str]]]
SyncResolver = Callable[[str, int], Sequence[str]]

_RFC1918 = tuple(ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"))
_UNIQUE_LOCAL = ipaddress.ip_network("fc00::/7")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class AddressRefused(httpx.TransportError):
    """A connection to a non-public address was refused. Not retried: it would be refused
    again. (An `httpx.TransportError`, so every caller's error handling already shows it.)"""

    def __init__(self, host: str, address: str, reason: str) -> None:
        super().__init__(
            f"{host} resolves to {address}, {reason}: shelfware only connects to public "
            f"addresses unless {ALLOW_PRIVATE_ENV}=true"
            if host != address
            else f"{address} is {reason}: shelfware only connects to public addresses "
            f"unless {ALLOW_PRIVATE_ENV}=true"
        )
        self.host = host
        self.address = address
        self.reason = reason


def private_urls_allowed() -> bool:
    """``SHELFWARE_ALLOW_PRIVATE_URLS`` (read now, so tests and the demo can switch it)."""
    return os.environ.get(ALLOW_PRIVATE_ENV, "").strip().lower() in _TRUE


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def refusal(address: IPAddress) -> str | None:
    """Why ``address`` is not a public address (words for a message), or None when it is."""
    if isinstance(address, ipaddress.IPv6Address):
        inner = _embedded_ipv4(address)
        if inner is not None:
            why = refusal(inner)
            return f"an IPv4-in-IPv6 form of {inner}, {why}" if why else None
    if address.is_unspecified:
        return "the unspecified address"
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address (such as the cloud metadata service 169.254.169.254)"
    if isinstance(address, ipaddress.IPv4Address) and any(address in n for n in _RFC1918):
        return "a private address (RFC 1918)"
    if isinstance(address, ipaddress.IPv6Address) and address in _UNIQUE_LOCAL:
        return "a unique-local address (fc00::/7)"
    if address.is_multicast:
        return "a multicast address"
    if address.is_reserved or not address.is_global:
        return "a reserved address, not publicly routable"
    return None


def literal_address(host: str) -> IPAddress | None:
    """The IP address a URL's host names literally (also the old forms ``2130706433`` and
    ``0x7f.1`` the system resolver accepts), or None for a name."""
    host = host.strip("[]")
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        pass
    if host and all(c in "0123456789abcdefxABCDEFX." for c in host):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def host_refusal(host: str) -> str | None:
    """Why a URL's host is not public as written (an address, or ``localhost``), or None when
    only resolving it can tell (the connection checks that)."""
    name = host.strip("[]").rstrip(".").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return "a loopback address"
    address = literal_address(name)
    return refusal(address) if address is not None else None


def is_loopback_host(host: str) -> bool:
    name = host.strip("[]").rstrip(".").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    address = literal_address(name)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address is not None and address.is_loopback


def check_addresses(host: str, addresses: Iterable[str]) -> list[str]:
    """The addresses, after refusing (`AddressRefused`) when any of them is not public."""
    checked = list(dict.fromkeys(addresses))
    if not checked:
        raise httpcore.ConnectError(f"{host} resolves to no address")
    if private_urls_allowed():
        return checked
    for text in checked:
        why = refusal(ipaddress.ip_address(text.split("%", 1)[0]))
        if why:
            raise AddressRefused(host, text, why)
    return checked


async def system_resolver(host: str, port: int) -> list[str]:
    """The system resolver (getaddrinfo), run off the event loop."""
    infos = await asyncio.get_running_loop().getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )
    return [str(info[4][0]) for info in infos]


def system_resolver_sync(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    return [str(info[4][0]) for info in infos]


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """Resolve, check every address, connect to a checked one (see the module docstring)."""

    def __init__(
        self, resolver: Resolver | None = None, inner: httpcore.AsyncNetworkBackend | None = None
    ) -> None:
        self.resolver = resolver or system_resolver
        self._inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            resolved = await asyncio.wait_for(self.resolver(host, port), timeout)
        except (OSError, TimeoutError) as error:
            raise httpcore.ConnectError(f"cannot resolve {host}: {error}") from None
        last: Exception | None = None
        for address in check_addresses(host, resolved):
            try:
                return await self._inner.connect_tcp(
                    address,
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as error:
                last = error
        assert last is not None
        raise last

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Any = None
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("unix sockets are not used for outgoing calls")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class GuardedSyncBackend(httpcore.NetworkBackend):
    """`GuardedBackend` for synchronous clients."""

    def __init__(
        self, resolver: SyncResolver | None = None, inner: httpcore.NetworkBackend | None = None
    ) -> None:
        self.resolver = resolver or system_resolver_sync
        self._inner = inner or httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        try:
            resolved = self.resolver(host, port)
        except OSError as error:
            raise httpcore.ConnectError(f"cannot resolve {host}: {error}") from None
        last: Exception | None = None
        for address in check_addresses(host, resolved):
            try:
                return self._inner.connect_tcp(
                    address,
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as error:
                last = error
        assert last is not None
        raise last

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Any = None
    ) -> httpcore.NetworkStream:
        raise httpcore.ConnectError("unix sockets are not used for outgoing calls")

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """An `httpx.AsyncHTTPTransport` whose connections go through `GuardedBackend`.

    No proxy: a client given a transport does not read proxies from the environment, so every
    connection is the checked one."""

    def __init__(
        self,
        *,
        resolver: Resolver | None = None,
        limits: httpx.Limits = httpx.Limits(max_connections=100, max_keepalive_connections=20),
        verify: Any = True,
    ) -> None:
        super().__init__(limits=limits, verify=verify)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(verify=verify),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=GuardedBackend(resolver),
        )


class GuardedSyncTransport(httpx.HTTPTransport):
    """`GuardedTransport` for synchronous clients."""

    def __init__(self, *, resolver: SyncResolver | None = None, verify: Any = True) -> None:
        super().__init__(verify=verify)
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(verify=verify),
            network_backend=GuardedSyncBackend(resolver),
        )


def guarded_async_client(
    *,
    resolver: Resolver | None = None,
    limits: httpx.Limits | None = None,
    **kwargs: Any,
) -> httpx.AsyncClient:
    """An `httpx.AsyncClient` that only connects to public addresses (see above)."""
    transport = GuardedTransport(
        resolver=resolver,
        limits=limits or httpx.Limits(max_connections=100, max_keepalive_connections=20),
    )
    return httpx.AsyncClient(transport=transport, **kwargs)


def guarded_client(*, resolver: SyncResolver | None = None, **kwargs: Any) -> httpx.Client:
    """An `httpx.Client` that only connects to public addresses (see above)."""
    return httpx.Client(transport=GuardedSyncTransport(resolver=resolver), **kwargs)
