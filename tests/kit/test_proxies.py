from __future__ import annotations

import pytest

from shelfware.kit.proxies import client_address, parse_networks

PROXIES = parse_networks("10.0.0.0/8, 192.168.1.5 ,::1")


def test_parse_networks_names_a_bad_entry() -> None:
    assert [str(n) for n in PROXIES] == ["10.0.0.0/8", "192.168.1.5/32", "::1/128"]
    assert parse_networks("") == ()
    with pytest.raises(ValueError, match="'nope' is not an IP address"):
        parse_networks("10.0.0.1, nope")


def test_the_header_counts_only_from_a_trusted_peer() -> None:
    # an untrusted peer: whatever it claims, it is the client
    assert client_address("203.0.113.9", ["1.2.3.4"], PROXIES) == "203.0.113.9"
    # no trusted proxies at all: the header is ignored
    assert client_address("10.0.0.2", ["1.2.3.4"], ()) == "10.0.0.2"
    # a trusted peer: the right-most untrusted hop (left of it was written by the client)
    assert client_address("10.0.0.2", ["6.6.6.6, 198.51.100.7"], PROXIES) == "198.51.100.7"
    assert (
        client_address("10.0.0.2", ["6.6.6.6", "198.51.100.7, 10.1.1.1"], PROXIES) == "198.51.100.7"
    )
    assert client_address("::1", ["[2001:db8::1]:443"], PROXIES) == "2001:db8::1"
    assert client_address("10.0.0.2", ["198.51.100.7:5000"], PROXIES) == "198.51.100.7"
    # nothing forwarded, or every hop trusted: the last trusted hop
    assert client_address("10.0.0.2", [], PROXIES) == "10.0.0.2"
    assert client_address("10.0.0.2", ["10.9.9.9"], PROXIES) == "10.9.9.9"
    # garbage right of the trusted hops: answered as the proxy, never as the garbage
    assert client_address("10.0.0.2", ["1.2.3.4, evil"], PROXIES) == "10.0.0.2"
    assert client_address(None, [], PROXIES) == "unknown"
