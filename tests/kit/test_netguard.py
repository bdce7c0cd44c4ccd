"""Outgoing connections reach public addresses only, checked on the address actually connected.

A real HTTP server listens on 127.0.0.1 for every test: a refused connection is one it never
saw, an allowed one is one it answered. Host names are resolved by a stubbed resolver passed
to the client: no DNS server can run here, so a name that resolves differently from one call to
the next (DNS rebinding) can only be staged that way. Everything after the resolver (the
check, the socket, the HTTP exchange) is the real code.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator, Sequence
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from shelfware.connectors.base import ConnectorError
from shelfware.connectors.toolkit.auth import request_token
from shelfware.kit.http import HttpTransportError, VendorClient
from shelfware.kit.netguard import (
    ALLOW_PRIVATE_ENV,
    AddressRefused,
    GuardedSyncTransport,
    check_addresses,
    guarded_client,
    host_refusal,
    refusal,
)
from shelfware.sandbox.server import serve_in_thread

PUBLIC = "93.184.216.34"


class Seen:
    def __init__(self) -> None:
        self.hosts: list[str] = []


@pytest.fixture
def server() -> Iterator[tuple[str, int, Seen]]:
    """A real HTTP server on loopback that records the Host header of every request."""
    seen = Seen()

    async def answer(request: Request) -> JSONResponse:
        seen.hosts.append(request.headers.get("host", ""))
        return JSONResponse({"access_token": "t0ken-value", "ok": True})

    app = Starlette(routes=[Route("/{path:path}", answer, methods=["GET", "POST"])])
    with serve_in_thread(app) as running:
        url = httpx.URL(running.url)
        assert url.port is not None
        yield url.host, url.port, seen


@pytest.fixture
def strict(monkeypatch: pytest.MonkeyPatch) -> None:
    """Private addresses NOT allowed (the test session allows them for the sandboxes)."""
    monkeypatch.delenv(ALLOW_PRIVATE_ENV, raising=False)


def answers(*rounds: Sequence[str]):  # type: ignore[no-untyped-def]
    """A stubbed resolver: the n-th lookup answers rounds[n] (the last one from then on)."""
    calls: list[str] = []

    async def resolve(host: str, port: int) -> list[str]:
        calls.append(host)
        return list(rounds[min(len(calls), len(rounds)) - 1])

    resolve.calls = calls  # type: ignore[attr-defined]
    return resolve


@pytest.mark.parametrize(
    ("address", "words"),
    [
        ("127.0.0.1", "loopback"),
        ("127.8.9.10", "loopback"),
        ("::1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "link-local"),
        ("fe80::1", "link-local"),
        ("fc00::1", "unique-local"),
        ("fd12:3456::1", "unique-local"),
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:169.254.169.254", "link-local"),
        ("::ffff:10.0.0.1", "private"),
        ("2002:a00:1::", "private"),  # 6to4 of 10.0.0.1
        ("64:ff9b::a9fe:a9fe", "link-local"),  # NAT64 of 169.254.169.254
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("240.0.0.1", "reserved"),
        ("100.64.0.1", "reserved"),
        ("192.0.2.1", "reserved"),
    ],
)
async def test_each_address_class_is_refused_on_connect(
    strict: None, server: tuple[str, int, Seen], address: str, words: str
) -> None:
    assert words in (refusal(ipaddress.ip_address(address)) or "")
    _, port, seen = server
    # the real client and the real socket path; the name resolves to the address under test
    async with VendorClient(
        base_url=f"http://app.example:{port}", resolver=answers([address])
    ) as client:
        with pytest.raises(HttpTransportError) as refused:
            await client.get("/users")
    message = str(refused.value)
    assert words in message and address in message and ALLOW_PRIVATE_ENV in message
    assert refused.value.attempts == 1  # refused, not retried
    assert seen.hosts == []


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "2130706433", "0x7f.1"])
async def test_loopback_named_in_the_url_is_refused_through_the_system_resolver(
    strict: None, server: tuple[str, int, Seen], host: str
) -> None:
    """No stub here: numeric forms and `localhost` go through getaddrinfo like any name."""
    _, port, seen = server
    async with VendorClient(base_url=f"http://{host}:{port}") as client:
        with pytest.raises(HttpTransportError, match="loopback"):
            await client.get("/users")
    assert seen.hosts == []
    assert host_refusal(host) == "a loopback address"


async def test_the_setting_allows_private_addresses(
    monkeypatch: pytest.MonkeyPatch, server: tuple[str, int, Seen]
) -> None:
    monkeypatch.setenv(ALLOW_PRIVATE_ENV, "true")
    _, port, seen = server
    async with VendorClient(base_url=f"http://127.0.0.1:{port}") as client:
        assert (await client.get("/users")).json()["ok"] is True
    assert seen.hosts == [f"127.0.0.1:{port}"]


async def test_dns_rebinding_is_refused_on_the_address_actually_connected(
    strict: None, server: tuple[str, int, Seen]
) -> None:
    """The name resolves to a public address first (what a check before connecting sees) and
    to 127.0.0.1 next (when the connection is made): the connection is refused. The server
    on 127.0.0.1 would have answered, had the client connected there."""
    _, port, seen = server
    resolver = answers([PUBLIC], ["127.0.0.1"])
    # what looking at the name beforehand shows: public, nothing to refuse
    assert check_addresses("rebind.example", await resolver("rebind.example", port)) == [PUBLIC]
    async with VendorClient(base_url=f"http://rebind.example:{port}", resolver=resolver) as client:
        with pytest.raises(HttpTransportError, match=r"rebind\.example resolves to 127\.0\.0\.1"):
            await client.get("/users")
    assert resolver.calls == ["rebind.example", "rebind.example"]  # type: ignore[attr-defined]
    assert seen.hosts == []


async def test_every_resolved_address_is_checked(
    strict: None, server: tuple[str, int, Seen]
) -> None:
    _, port, seen = server
    resolver = answers([PUBLIC, "10.0.0.7"])
    async with VendorClient(base_url=f"http://mixed.example:{port}", resolver=resolver) as client:
        with pytest.raises(HttpTransportError, match=r"10\.0\.0\.7, a private address"):
            await client.get("/users")
    assert seen.hosts == []


async def test_the_checked_address_is_connected_and_the_host_name_kept(
    monkeypatch: pytest.MonkeyPatch, server: tuple[str, int, Seen]
) -> None:
    """Allowed, the client connects to the address the guard resolved (the only place
    `named.example` leads to), and the request still names the host (Host header; TLS takes
    its server name from the same URL)."""
    monkeypatch.setenv(ALLOW_PRIVATE_ENV, "true")
    _, port, seen = server
    async with VendorClient(
        base_url=f"http://named.example:{port}", resolver=answers(["127.0.0.1"])
    ) as client:
        assert (await client.get("/users")).status_code == 200
    assert seen.hosts == [f"named.example:{port}"]


async def test_oauth_token_requests_are_guarded(
    monkeypatch: pytest.MonkeyPatch, server: tuple[str, int, Seen]
) -> None:
    host, port, seen = server
    token_url = f"http://{host}:{port}/oauth/token"
    monkeypatch.delenv(ALLOW_PRIVATE_ENV)
    with pytest.raises(ConnectorError, match="loopback"):
        await request_token(None, token_url, {"grant_type": "x"}, client_id="c", client_secret="s")
    assert seen.hosts == []
    monkeypatch.setenv(ALLOW_PRIVATE_ENV, "1")
    answer = await request_token(
        None, token_url, {"grant_type": "x"}, client_id="c", client_secret="s"
    )
    assert answer["access_token"] == "t0ken-value"


def test_the_synchronous_client_is_guarded(
    monkeypatch: pytest.MonkeyPatch, server: tuple[str, int, Seen]
) -> None:
    host, port, seen = server
    monkeypatch.delenv(ALLOW_PRIVATE_ENV)
    with guarded_client() as client, pytest.raises(AddressRefused, match="loopback"):
        client.post(f"http://{host}:{port}/hook", json={})
    rebinding = iter([[PUBLIC], ["127.0.0.1"]])
    with (
        guarded_client(resolver=lambda h, p: next(rebinding)[:]) as client,
        pytest.raises(AddressRefused, match=r"rebind\.example resolves to 127\.0\.0\.1"),
    ):
        next(rebinding)  # the look beforehand: public
        client.post(f"http://rebind.example:{port}/hook", json={})
    assert seen.hosts == []


def test_public_addresses_pass(strict: None) -> None:
    for address in (PUBLIC, "8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8"):
        assert refusal(ipaddress.ip_address(address)) is None
    assert check_addresses("x", [PUBLIC, "2606:4700:4700::1111"]) == [
        PUBLIC,
        "2606:4700:4700::1111",
    ]
    assert host_refusal("rally1.rallydev.com") is None  # a name: checked when connecting


def test_tls_keeps_the_host_name_while_connecting_to_the_checked_address(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A TLS server on 127.0.0.1 with a certificate for `named.example` only (a throwaway CA,
    verification on): the guarded client connects to the address it resolved and still sends
    the name (SNI) and verifies the certificate against it, not against the address."""
    import ssl

    import trustme

    monkeypatch.setenv(ALLOW_PRIVATE_ENV, "true")
    ca = trustme.CA()
    cert = ca.issue_cert("named.example")
    certfile, keyfile = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.private_key_and_cert_chain_pem.write_to_path(str(certfile))
    cert.private_key_pem.write_to_path(str(keyfile))
    seen: list[str] = []

    async def answer(request: Request) -> JSONResponse:
        seen.append(request.headers.get("host", ""))
        return JSONResponse({"ok": True})

    app = Starlette(routes=[Route("/", answer)])
    with serve_in_thread(app, ssl_certfile=str(certfile), ssl_keyfile=str(keyfile)) as running:
        port = httpx.URL(running.url).port
        trust = ssl.create_default_context()
        ca.configure_trust(trust)

        def client() -> httpx.Client:
            transport = GuardedSyncTransport(resolver=lambda h, p: ["127.0.0.1"], verify=trust)
            return httpx.Client(transport=transport)

        with client() as named:
            assert named.get(f"https://named.example:{port}/").json() == {"ok": True}
        assert seen == [f"named.example:{port}"]
        with client() as other, pytest.raises(httpx.ConnectError, match="certificate"):
            other.get(f"https://other.example:{port}/")  # same address, another name
