"""Every error a tgfleet caller must decide about, in one place.

One class per decision: a caller that catches ``PoolTimeout`` retries later, one that catches
``AuthorizationRevoked`` stops using that authorization, and so on. Library errors (Kurigram's
``RPCError`` subclasses, sqlite errors) are translated into these at the edge of the layer that
sees them; HTTP status codes are chosen only by the API's error handlers.
"""

from __future__ import annotations


class TgfleetError(Exception):
    """Base of every error tgfleet raises on purpose."""


# --- configuration ---------------------------------------------------------------------------


class ConfigError(TgfleetError, ValueError):
    """A setting is missing or malformed; the message names the key and the expected form."""


# --- pool --------------------------------------------------------------------------------------


class PoolError(TgfleetError):
    """Base of the pool's errors."""


class PoolTimeout(PoolError, TimeoutError):
    """No connection became free before the acquire deadline.

    The message names the account, how many connections are busy, idle and connecting, how many
    borrowers wait, how long this one waited, and the setting to change.
    """

    def __init__(
        self,
        message: str,
        *,
        phone: str = "",
        waited: float = 0.0,
        busy: int = 0,
        waiting: int = 0,
    ) -> None:
        super().__init__(message)
        self.phone = phone
        self.waited = waited
        self.busy = busy
        self.waiting = waiting


class PoolClosed(PoolError):
    """The pool is stopping or stopped; no connection will be handed out."""


class ConnectFailed(PoolError):
    """Creating or connecting a client failed; the account is backing off before the next try."""


class NoAuthorizationAvailable(PoolError):
    """Every authorization of the account already has a live client (DESIGN fact 1)."""


# --- accounts and Telegram -------------------------------------------------------------------


class AccountNotFound(TgfleetError, LookupError):
    """No account with that phone number or bot id."""


class AccountExists(TgfleetError):
    """An account with that phone number or bot id is already in the fleet."""


class AccountDisabled(TgfleetError):
    """The account is disabled, revoked or banned; it takes no work until an operator acts."""


class InvalidInput(TgfleetError, ValueError):
    """Input from an operator is malformed; the message names the field and the expected form."""


class TelegramError(TgfleetError):
    """Telegram answered with an error that no more specific class covers."""

    def __init__(self, message: str, *, code: int = 400, name: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.name = name


class FloodWait(TelegramError):
    """Telegram asks this account to wait ``seconds`` before the next request (DESIGN fact 4)."""

    def __init__(self, seconds: int, *, phone: str = "", method: str = "") -> None:
        who = f"account {phone}: " if phone else ""
        what = f" on {method}" if method else ""
        super().__init__(
            f"{who}Telegram asks to wait {seconds} s{what} (FLOOD_WAIT)",
            code=420,
            name="FLOOD_WAIT",
        )
        self.seconds = seconds
        self.phone = phone
        self.method = method


class AuthorizationRevoked(TelegramError):
    """The authorization is dead for good (401): unregistered, revoked or expired key."""


class AccountBanned(TelegramError):
    """The account is deactivated or banned by Telegram (401 USER_DEACTIVATED(_BAN))."""


class AuthKeyDuplicated(TelegramError):
    """Telegram saw the authorization on two connections at once (406); it is never retried."""


class LoginError(TelegramError):
    """A login step failed; ``name`` is Telegram's error (PHONE_CODE_INVALID, ...)."""


class PasswordRequired(TgfleetError):
    """The account has a two-step password; the login flow waits for it."""


class ProxyError(TgfleetError):
    """The account's proxy is malformed or unreachable."""


# --- store and vault ---------------------------------------------------------------------------


class StoreError(TgfleetError):
    """The database cannot be opened, migrated or written."""


class VaultError(TgfleetError):
    """A secret cannot be decrypted: wrong master key or tampered ciphertext."""


# --- API access --------------------------------------------------------------------------------


class NotAuthenticated(TgfleetError):
    """The request carries no valid session cookie or API token."""


class PermissionDenied(TgfleetError):
    """The request is authenticated but not allowed (bad CSRF token, revoked token)."""


class Conflict(TgfleetError):
    """The request conflicts with the current state (a login already in progress, ...)."""


# --- authorizations and leases (store) -------------------------------------------------------


class AuthorizationNotFound(TgfleetError, LookupError):
    """No authorization with that id (it was logged out or its account removed)."""


class LeaseHeld(TgfleetError):
    """Another owner holds a live lease on the authorization; pick another one or wait."""


class LeaseLost(TgfleetError):
    """This owner's lease expired or was taken over; stop using the authorization at once."""


# --- API sign-in -------------------------------------------------------------------------------


class TooManyAttempts(TgfleetError):
    """Too many failed sign-ins for this username from this client; retry after the pause."""

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


# --- API tokens over the API ----------------------------------------------------------------


class TokenNotFound(TgfleetError, LookupError):
    """No live API token with that id (it was revoked, or never existed)."""
