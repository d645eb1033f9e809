"""What the account routes share: finding the account a path names, peers, documented errors.

An account is named in the path by its key in any spelling the store accepts: a phone number
("+1 555 000-0001", "0015550000001") or "bot:<id>". Every route decides first (the key exists,
the input is well formed, the account may act) and then acts, so a malformed request never
reaches Telegram.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import SecretStr

from tgfleet.errors import AccountNotFound, Conflict
from tgfleet.runtime import Runtime
from tgfleet.store.records import Account, AccountStatus
from tgfleet.store.validation import check_proxy_url, normalize_account_key
from tgfleet.telegram.proxy import parse_proxy

_CHAT_ID = re.compile(r"-?\d{1,20}")
# accounts that have never been authorized: nothing in the pool can act for them yet
_UNAUTHORIZED = {AccountStatus.NEW, AccountStatus.LOGIN_PENDING}


async def find_account(runtime: Runtime, value: str) -> Account:
    """The account named by ``value`` in any spelling; 422 if malformed, 404 if unknown."""
    key, _ = normalize_account_key(value, field="key")
    # from memory when read in the last second: every action looks its account up, and this
    # store's own writes (status, enabled, ...) are seen at once
    account = await runtime.store.accounts.find_by_key_recent(key)
    if account is None:
        raise AccountNotFound(f"no account {key} in the fleet")
    return account


async def working_account(runtime: Runtime, value: str) -> Account:
    """The account, if it may act: a disabled or never logged-in one is refused before the
    pool is asked."""
    account = await find_account(runtime, value)
    if not account.enabled:
        raise Conflict(
            f"account {account.key} is disabled; enable it (PATCH enabled=true) to act through it"
        )
    if account.status in _UNAUTHORIZED:
        raise Conflict(
            f"account {account.key} is {account.status.value}: it has no authorization yet; "
            "log it in first (POST /api/v1/logins)"
        )
    return account


def usable_proxy(given: SecretStr | None, *, field: str = "proxy") -> str | None:
    """The proxy URL an operator gave, if Kurigram can dial it: the store takes some forms
    (socks5h://, https://) that no client could use, and refusing them now beats an account
    that cannot connect."""
    if given is None:
        return None
    url = check_proxy_url(given.get_secret_value())[0]  # the store's own check first
    parse_proxy(url, field=field)
    return url


def peer_of(value: str) -> int | str:
    """A chat id as a number; a username without its '@'; a phone as given."""
    text = value.strip()
    if _CHAT_ID.fullmatch(text):
        return int(text)
    return text.removeprefix("@")


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for the problem answers a route may give, besides 401/403/422."""
    every = (401, 403, 422, *statuses)
    return {
        status: {
            "description": _DESCRIPTIONS.get(status, "problem"),
            "content": {
                "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
            },
        }
        for status in sorted(set(every))
    }


_DESCRIPTIONS = {
    400: "Telegram refused the request (telegram_error names why)",
    401: "not signed in (no session cookie or API token)",
    403: "missing or wrong CSRF header",
    404: "no such account, login, authorization or token",
    409: "the account's state forbids it (exists, disabled, not logged in, login in progress)",
    422: "invalid input; the detail names the field",
    429: "Telegram asks this account to wait (Retry-After, retry_after)",
    502: "Telegram or the proxy could not be reached",
    503: "no pooled connection free in time, or the daemon is stopping (Retry-After)",
}
