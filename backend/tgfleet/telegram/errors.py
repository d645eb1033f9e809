"""Translate Kurigram's errors into tgfleet's, at the edge where Kurigram is called.

Nothing above ``tgfleet.telegram`` catches a ``pyrogram.errors`` class: services and the API
decide on ``tgfleet.errors`` only.
"""

from __future__ import annotations

from pyrogram import errors as tg

from tgfleet import errors

# 401s that end an authorization for good (DESIGN fact 5).
_REVOKED = {
    "AUTH_KEY_UNREGISTERED",
    "AUTH_KEY_INVALID",
    "SESSION_REVOKED",
    "SESSION_EXPIRED",
    "AUTH_KEY_PERM_EMPTY",
}
_BANNED = {"USER_DEACTIVATED", "USER_DEACTIVATED_BAN", "PHONE_NUMBER_BANNED"}
_LOGIN = {
    "PHONE_NUMBER_INVALID",
    "PHONE_NUMBER_UNOCCUPIED",
    "PHONE_CODE_INVALID",
    "PHONE_CODE_EXPIRED",
    "PHONE_CODE_EMPTY",
    "PHONE_CODE_HASH_EMPTY",
    "PASSWORD_HASH_INVALID",
    "SRP_ID_INVALID",
    "SRP_PASSWORD_CHANGED",
    "ACCESS_TOKEN_INVALID",
    "ACCESS_TOKEN_EXPIRED",
    "AUTH_TOKEN_INVALID",
    "AUTH_TOKEN_EXPIRED",
    "AUTH_TOKEN_ALREADY_ACCEPTED",
    "FIRSTNAME_INVALID",
    "SESSION_PASSWORD_NEEDED",
}


def error_name(exc: tg.RPCError) -> str:
    return str(exc.ID or exc.NAME or type(exc).__name__)


def translate(exc: BaseException, *, phone: str = "", method: str = "") -> BaseException:
    """The tgfleet error for a Kurigram error; anything else is returned unchanged."""
    if not isinstance(exc, tg.RPCError):
        return exc
    name = error_name(exc)
    who = f"account {phone}: " if phone else ""
    text = f"{who}Telegram answered {exc.CODE} {name}" + (f" to {method}" if method else "")
    code = int(exc.CODE or 400)
    if isinstance(exc, tg.FloodWait | tg.FloodPremiumWait | tg.SlowmodeWait):
        seconds = exc.value if isinstance(exc.value, int) else 0
        return errors.FloodWait(seconds, phone=phone, method=method)
    if name in _BANNED:
        return errors.AccountBanned(text, code=code, name=name)
    if name in _REVOKED:
        return errors.AuthorizationRevoked(text, code=code, name=name)
    if isinstance(exc, tg.AuthKeyDuplicated):
        return errors.AuthKeyDuplicated(
            text + "; the authorization was used on two connections at once",
            code=code,
            name=name,
        )
    if name in _LOGIN:
        return errors.LoginError(text, code=code, name=name)
    return errors.TelegramError(text, code=code, name=name)
