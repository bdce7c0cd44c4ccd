"""Authentication before the body, and the body limits, over a real socket to uvicorn.

Each request is written by hand so the test controls what the server gets: headers that
announce 50 MB and a body that never comes, a chunked body that keeps coming. The answer must
arrive while the client is still (or never) sending, which is only possible when the server
decided without reading the body."""

from __future__ import annotations

import json
import select
import socket
import time
from urllib.parse import urlsplit

import pytest

from shelfware.accounts.roles import Role
from tests.api.conftest import Api

MIB = 1024 * 1024


def _connect(served: str) -> socket.socket:
    parts = urlsplit(served)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=10)
    return sock


def _head(method: str, path: str, headers: dict[str, str]) -> bytes:
    lines = [
        f"{method} {path} HTTP/1.1",
        "Host: testserver",
        *(f"{k}: {v}" for k, v in headers.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _answer(sock: socket.socket, timeout: float = 10) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body of the first response on ``sock``."""
    sock.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed before an answer: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in header_lines)}
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk, "connection closed inside the body"
        body += chunk
    return int(status_line.split()[1]), headers, body[:length]


def _error(body: bytes) -> dict[str, str]:
    parsed = json.loads(body)
    assert set(parsed) == {"error"} and parsed["error"]["message"], parsed
    return dict(parsed["error"])


@pytest.mark.parametrize("token", [None, "shw_not-a-real-token"])
def test_unauthenticated_50mb_post_gets_401_before_the_body(
    api: Api, served: str, token: str | None
) -> None:
    path = urlsplit(served).path + "/entitlements"
    headers = {"Content-Type": "application/json", "Content-Length": str(50 * MIB)}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    with _connect(served) as sock:
        sock.sendall(_head("POST", path, headers) + b'{"model": "')  # and nothing more
        started = time.monotonic()
        status, answer_headers, body = _answer(sock, timeout=5)
    assert status == 401, body
    assert time.monotonic() - started < 5
    assert answer_headers["www-authenticate"] == "Bearer"
    assert _error(body)["code"] == "unauthorized"


def test_unauthenticated_slow_chunked_post_gets_401(api: Api, served: str) -> None:
    path = urlsplit(served).path + "/candidates/actions"
    headers = {"Content-Type": "application/json", "Transfer-Encoding": "chunked"}
    with _connect(served) as sock:
        sock.sendall(_head("POST", path, headers) + b"1\r\n[\r\n")  # a body that trickles
        status, _, body = _answer(sock, timeout=5)
    assert status == 401 and _error(body)["code"] == "unauthorized"


def test_declared_length_over_the_limit_is_413_unread(api: Api, served: str) -> None:
    path = urlsplit(served).path + "/entitlements"
    headers = {
        **api.auth(Role.ADMIN),
        "Content-Type": "application/json",
        "Content-Length": str(MIB + 1),
    }
    with _connect(served) as sock:
        sock.sendall(_head("POST", path, headers))  # no body at all
        status, answer_headers, body = _answer(sock, timeout=5)
    assert status == 413
    assert _error(body) == {
        "code": "too_large",
        "message": "the request body is over the limit of 1 MiB",
    }
    assert answer_headers["connection"] == "close"
    assert answer_headers["cache-control"] == "no-store"


def _stream_until_answered(
    sock: socket.socket, total: int, chunk: int = 64 * 1024
) -> tuple[int, dict[str, str], bytes, int]:
    """Send a chunked body of ``total`` bytes (never its last chunk) until the server answers;
    how many bytes were sent when it did."""
    sent = 0
    piece = f"{chunk:x}\r\n".encode() + b"x" * chunk + b"\r\n"
    while sent < total:
        answered, _, _ = select.select([sock], [], [], 0)
        if answered:
            break
        try:
            sock.sendall(piece)
        except (BrokenPipeError, ConnectionResetError):
            break
        sent += chunk
    status, headers, body = _answer(sock)
    return status, headers, body, sent


def test_chunked_body_is_cut_at_the_limit(api: Api, served: str) -> None:
    path = urlsplit(served).path + "/entitlements"
    headers = {
        **api.auth(Role.ADMIN),
        "Content-Type": "application/json",
        "Transfer-Encoding": "chunked",
    }
    with _connect(served) as sock:
        sock.sendall(_head("POST", path, headers))
        status, _, body, sent = _stream_until_answered(sock, total=64 * MIB)
    assert status == 413 and _error(body)["code"] == "too_large"
    assert sent < 16 * MIB  # answered long before the client was done


def test_import_takes_20_mib_and_no_more(api: Api, served: str) -> None:
    path = urlsplit(served).path + "/entitlements/import"
    base = {**api.auth(Role.ADMIN), "Content-Type": "text/csv"}
    with _connect(served) as sock:
        sock.sendall(_head("POST", path, {**base, "Content-Length": str(20 * MIB + 1)}))
        status, _, body = _answer(sock)
    assert status == 413 and "20 MiB" in _error(body)["message"]
    # 2 MiB (over the general limit) is read and refused for its content, not its size
    payload = b"model,seats\n" + b"x" * (2 * MIB)
    with _connect(served) as sock:
        sock.sendall(_head("POST", path, {**base, "Content-Length": str(len(payload))}) + payload)
        status, _, body = _answer(sock, timeout=30)
    assert status == 422, body
    with _connect(served) as sock:
        sock.sendall(_head("POST", path, {**base, "Transfer-Encoding": "chunked"}))
        status, _, body, sent = _stream_until_answered(sock, total=64 * MIB)
    assert status == 413 and 20 * MIB <= sent < 40 * MIB


def test_other_bodies_are_held_to_1_mib(api: Api, served: str) -> None:
    """A JSON body of 1.5 MiB with its length declared: refused, not parsed."""
    path = urlsplit(served).path + "/rules"
    payload = json.dumps({"model": "x", "exclude_users": ["u" * 100] * 15_000}).encode()
    assert MIB < len(payload) < 2 * MIB
    headers = {
        **api.auth(Role.ADMIN),
        "Content-Type": "application/json",
        "Content-Length": str(len(payload)),
    }
    with _connect(served) as sock:
        sock.sendall(_head("PATCH", path, headers) + payload)
        status, _, body = _answer(sock)
    assert status == 413 and _error(body)["code"] == "too_large"


def test_web_forms_are_held_to_1_mib(api: Api, served: str) -> None:
    path = "/sign-in"  # the workspace, on the same server as the API
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Transfer-Encoding": "chunked"}
    with _connect(served) as sock:
        sock.sendall(_head("POST", path, headers))
        status, answer_headers, body, sent = _stream_until_answered(sock, total=64 * MIB)
    assert status == 413, body
    assert sent < 16 * MIB
    assert answer_headers["content-type"].startswith("text/html")
    assert "content-security-policy" in answer_headers
    assert b"over the limit of 1 MiB" in body
    headers = {"Content-Type": "multipart/form-data; boundary=x", "Content-Length": str(2 * MIB)}
    with _connect(served) as sock:
        sock.sendall(_head("POST", "/entitlements", headers))
        status, _, body = _answer(sock)
    assert status == 413, body


def test_the_document_needs_no_token(api: Api, served: str) -> None:
    path = urlsplit(served).path + "/openapi.json"
    with _connect(served) as sock:
        sock.sendall(_head("GET", path, {}))
        status, _, body = _answer(sock)
    assert status == 200 and json.loads(body)["info"]["title"] == "shelfware API"
