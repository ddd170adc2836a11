from __future__ import annotations

from app.core.client_address import client_address, parse_networks

TRUSTED = parse_networks(["10.0.0.0/8", "127.0.0.1"])


def test_untrusted_peer_is_the_client_whatever_it_forwards() -> None:
    assert client_address("198.51.100.7", "203.0.113.1", TRUSTED) == "198.51.100.7"


def test_trusted_proxy_forwards_the_client() -> None:
    assert client_address("10.1.2.3", "203.0.113.1", TRUSTED) == "203.0.113.1"


def test_chain_of_proxies_is_walked_from_the_right() -> None:
    # The client prepended a forged hop; the right-most untrusted hop is the real client.
    assert client_address("10.1.2.3", "1.2.3.4, 203.0.113.1, 10.9.9.9", TRUSTED) == "203.0.113.1"


def test_garbage_forwarded_value_falls_back_to_the_peer() -> None:
    assert client_address("10.1.2.3", "not-an-ip", TRUSTED) == "10.1.2.3"
    assert client_address("127.0.0.1", "10.0.0.1, 10.0.0.2", TRUSTED) == "10.0.0.1"


def test_missing_peer_and_header() -> None:
    assert client_address(None, None, TRUSTED) == "unknown"
    assert client_address("10.1.2.3", None, TRUSTED) == "10.1.2.3"
