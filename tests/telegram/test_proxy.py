"""Proxy URLs: every form operators paste, clear errors, and no password in any message."""

from __future__ import annotations

import pytest
from pyrogram.connection.proxy import HTTPProxy, MTProxy, SOCKS5Proxy

from tgfleet.errors import InvalidInput
from tgfleet.telegram.proxy import effective_proxy, fleet_default_proxy, parse_proxy, redact_proxy


def test_socks5_with_credentials() -> None:
    proxy = parse_proxy("socks5://alice:s3cret@127.0.0.1:1080")
    assert proxy == SOCKS5Proxy(
        hostname="127.0.0.1", port=1080, username="alice", password="s3cret"
    )


def test_http_and_mtproxy_links() -> None:
    assert parse_proxy("http://10.0.0.1:3128") == HTTPProxy(hostname="10.0.0.1", port=3128)
    secret = "dd" + "ab" * 16
    proxy = parse_proxy(f"tg://proxy?server=127.0.0.1&port=443&secret={secret}")
    assert isinstance(proxy, MTProxy)
    assert (proxy.hostname, proxy.port) == ("127.0.0.1", 443)


@pytest.mark.parametrize(
    "url",
    ["socks5://alice:hunter22@127.0.0.1", "ftp://alice:hunter22@127.0.0.1:21", "hunter22", ""],
)
def test_bad_urls_name_the_field_and_hide_the_password(url: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_proxy(url, field="accounts.proxy")
    message = str(caught.value)
    assert message.startswith("accounts.proxy: ")
    assert "socks5://" in message  # says which forms are accepted
    if url != "hunter22":
        # a bare word is all the operator typed; anything with a structure is redacted
        assert "hunter22" not in message


def test_redaction() -> None:
    assert redact_proxy("socks5://bob:pw@h:1") == "socks5://bob:***@h:1"
    assert "abc" not in redact_proxy("tg://proxy?server=h&port=1&secret=abc")
    assert redact_proxy("http://h:1") == "http://h:1"


def test_fleet_default_comes_from_setting_then_environment() -> None:
    env = {"HTTPS_PROXY": "http://127.0.0.1:8888", "ALL_PROXY": "socks5://127.0.0.1:1080"}
    assert fleet_default_proxy("socks5://127.0.0.1:9", env) == "socks5://127.0.0.1:9"
    assert fleet_default_proxy(None, env) == "socks5://127.0.0.1:1080"
    assert fleet_default_proxy(None, {"HTTPS_PROXY": "http://h:1"}) == "http://h:1"
    assert fleet_default_proxy(None, {}) is None
    # an account's own proxy wins over the default
    own = effective_proxy("http://127.0.0.1:1", "socks5://127.0.0.1:2")
    assert own == HTTPProxy(hostname="127.0.0.1", port=1)
    assert effective_proxy(None, None) is None
