"""auth.* and account.getPassword: logging in with a code, a two-step password or a bot token.

Telegram's order of checks is kept, because clients branch on the error names: a malformed
number, then the code hash, then the code, then whether the number is registered, then the
password. A code is single-use and expires; a password check proves knowledge with SRP.
"""

from __future__ import annotations

import os
import re
from dataclasses import replace
from typing import Any

from pyrogram.raw import functions, types

from tgfleet.sandbox.rpc import RpcError
from tgfleet.sandbox.world import render
from tgfleet.sandbox.world.messages import deliver
from tgfleet.sandbox.world.registry import route
from tgfleet.sandbox.world.srp import P_BYTES, G, SrpChallenge
from tgfleet.sandbox.world.state import (
    SERVICE_USER_ID,
    Authorization,
    Call,
    PendingCode,
    User,
    WorldState,
    random_int63,
)

PHONE_RE = re.compile(r"[1-9]\d{4,14}")
BOT_TOKEN_RE = re.compile(r"(\d{1,19}):([A-Za-z0-9_-]{1,64})")


def normalize_phone(raw_phone: str) -> str:
    """Digits only, like Telegram's servers see them; PHONE_NUMBER_INVALID when malformed."""
    phone = re.sub(r"[\s()+-]", "", raw_phone or "")
    if not PHONE_RE.fullmatch(phone):
        raise RpcError(400, "PHONE_NUMBER_INVALID")
    return phone


def bind(st: WorldState, auth: Authorization, user: User) -> types.auth.Authorization:
    """Make ``auth`` a logged-in authorization of ``user`` (a new one: it gets a new hash)."""
    auth.user_id = user.id
    auth.logged_in_at = auth.active = st.now()
    auth.hash = random_int63()
    auth.revoked = False
    auth.password_pending_user = None
    auth.srp = None
    auth.login_token = None
    user.was_online = st.now()
    return types.auth.Authorization(user=render.user(st, user, user.id))


def unbind(auth: Authorization, *, revoked: bool) -> None:
    auth.user_id = None
    auth.revoked = revoked
    auth.password_pending_user = None
    auth.srp = None
    auth.login_token = None


def login_or_password(st: WorldState, auth: Authorization, user: User) -> types.auth.Authorization:
    """Finish a code or QR login: log in, or wait for the two-step password."""
    if user.password is not None:
        auth.password_pending_user = user.id
        raise RpcError(401, "SESSION_PASSWORD_NEEDED")
    return bind(st, auth, user)


@route(functions.auth.SendCode, login=False)
def send_code(st: WorldState, call: Call, q: functions.auth.SendCode) -> types.auth.SentCode:
    phone = normalize_phone(q.phone_number)
    user = st.user_by_phone(phone)
    if user is not None and user.banned:
        raise RpcError(400, "PHONE_NUMBER_BANNED")
    st.purge_expired()
    code_hash = os.urandom(9).hex()
    st.codes[code_hash] = PendingCode(phone, code_hash, st.login_code, st.clock())
    length = len(st.login_code)
    # Telegram sends the code as a message from its service account when the account has
    # another session, else by SMS (which, in the sandbox, is the fixed code).
    if user is not None and any(st.auths_of(user.id)):
        service = st.users[SERVICE_USER_ID]
        text = f"Login code: {st.login_code}. Do not give this code to anyone."
        deliver(st, service, ("user", user.id), text, skip_conn=None)
        code_type: Any = types.auth.SentCodeTypeApp(length=length)
    else:
        code_type = types.auth.SentCodeTypeSms(length=length)
    return types.auth.SentCode(type=code_type, phone_code_hash=code_hash, timeout=None)


def _check_code(
    st: WorldState, phone: str, code_hash: str, code: str | None, *, with_code: bool = True
) -> PendingCode:
    if not code_hash:
        raise RpcError(400, "PHONE_CODE_HASH_EMPTY")
    if with_code and not code:
        raise RpcError(400, "PHONE_CODE_EMPTY")
    pending = st.codes.get(code_hash)
    if pending is None or pending.phone != phone:
        raise RpcError(400, "PHONE_CODE_EXPIRED")
    if st.clock() - pending.created > st.code_ttl:
        del st.codes[code_hash]
        raise RpcError(400, "PHONE_CODE_EXPIRED")
    if with_code and code != pending.code:
        raise RpcError(400, "PHONE_CODE_INVALID")
    return pending


def _new_user(st: WorldState, phone: str, first_name: str, last_name: str) -> User:
    return st.add_user(
        User(
            id=st.allocate_user_id(),
            access_hash=random_int63(),
            first_name=first_name,
            last_name=last_name,
            phone=phone,
            created=st.now(),
        )
    )


@route(functions.auth.ResendCode, login=False)
def resend_code(st: WorldState, call: Call, q: functions.auth.ResendCode) -> types.auth.SentCode:
    phone = normalize_phone(q.phone_number)
    pending = _check_code(st, phone, q.phone_code_hash, None, with_code=False)
    # The same code again, by "SMS", with its validity starting over.
    st.codes[pending.phone_code_hash] = replace(pending, created=st.clock())
    return types.auth.SentCode(
        type=types.auth.SentCodeTypeSms(length=len(st.login_code)),
        phone_code_hash=pending.phone_code_hash,
    )


@route(functions.auth.CancelCode, login=False)
def cancel_code(st: WorldState, call: Call, q: functions.auth.CancelCode) -> bool:
    normalize_phone(q.phone_number)
    pending = st.codes.get(q.phone_code_hash)
    if pending is not None and pending.phone == normalize_phone(q.phone_number):
        del st.codes[q.phone_code_hash]
    return True


@route(functions.auth.SignIn, login=False)
def sign_in(st: WorldState, call: Call, q: functions.auth.SignIn) -> Any:
    phone = normalize_phone(q.phone_number)
    pending = _check_code(st, phone, q.phone_code_hash, q.phone_code)
    user = st.user_by_phone(phone)
    if user is not None and user.banned:
        raise RpcError(400, "PHONE_NUMBER_BANNED")
    if user is None:
        if not st.auto_sign_up:
            # The proven code stays valid for auth.signUp, as on Telegram.
            st.codes[q.phone_code_hash] = replace(pending, verified=True)
            return types.auth.AuthorizationSignUpRequired()
        user = _new_user(st, phone, f"User {phone[-4:]}", "")
    del st.codes[q.phone_code_hash]
    return login_or_password(st, call.auth, user)


@route(functions.auth.SignUp, login=False)
def sign_up(st: WorldState, call: Call, q: functions.auth.SignUp) -> types.auth.Authorization:
    phone = normalize_phone(q.phone_number)
    # signUp carries no code: the hash from the signIn that asked for it must still be valid.
    if not _check_code(st, phone, q.phone_code_hash, None, with_code=False).verified:
        raise RpcError(400, "PHONE_CODE_EMPTY")
    first_name = (q.first_name or "").strip()
    if not first_name or len(first_name) > 64:
        raise RpcError(400, "FIRSTNAME_INVALID")
    if len(q.last_name or "") > 64:
        raise RpcError(400, "LASTNAME_INVALID")
    if st.user_by_phone(phone) is not None:
        raise RpcError(400, "PHONE_NUMBER_OCCUPIED")
    del st.codes[q.phone_code_hash]
    user = _new_user(st, phone, first_name, (q.last_name or "").strip())
    return bind(st, call.auth, user)


@route(functions.auth.ImportBotAuthorization, login=False)
def import_bot_authorization(
    st: WorldState, call: Call, q: functions.auth.ImportBotAuthorization
) -> types.auth.Authorization:
    match = BOT_TOKEN_RE.fullmatch(q.bot_auth_token or "")
    bot = st.users.get(int(match.group(1))) if match else None
    if match is None or bot is None or not bot.bot or bot.bot_secret != match.group(2):
        raise RpcError(400, "ACCESS_TOKEN_INVALID")
    if bot.banned:
        raise RpcError(401, "USER_DEACTIVATED_BAN")
    return bind(st, call.auth, bot)


@route(functions.auth.LogOut)
def log_out(st: WorldState, call: Call, q: functions.auth.LogOut) -> types.auth.LoggedOut:
    unbind(call.auth, revoked=False)
    return types.auth.LoggedOut()


def _password_user(st: WorldState, call: Call) -> User:
    """Who a password step is for: the user waiting for it, or the logged-in user."""
    pending = call.auth.password_pending_user
    if pending is not None:
        return st.users[pending]
    if call.user is None:
        raise RpcError(401, "AUTH_KEY_UNREGISTERED")
    return call.user


@route(functions.account.GetPassword, login=False)
def get_password(st: WorldState, call: Call, q: functions.account.GetPassword) -> Any:
    user = _password_user(st, call)
    new_algo = types.PasswordKdfAlgoSHA256SHA256PBKDF2HMACSHA512iter100000SHA256ModPow(
        salt1=os.urandom(8), salt2=os.urandom(16), g=G, p=P_BYTES
    )
    call.auth.new_salts = (new_algo.salt1, new_algo.salt2)
    common: dict[str, Any] = {
        "new_algo": new_algo,
        "new_secure_algo": types.SecurePasswordKdfAlgoSHA512(salt=os.urandom(8)),
        "secure_random": os.urandom(256),
    }
    if user.password is None:
        call.auth.srp = None
        return types.account.Password(has_password=False, **common)
    challenge = SrpChallenge.create(user.password)
    call.auth.srp = challenge
    return types.account.Password(
        has_password=True,
        current_algo=types.PasswordKdfAlgoSHA256SHA256PBKDF2HMACSHA512iter100000SHA256ModPow(
            salt1=user.password.salt1, salt2=user.password.salt2, g=G, p=P_BYTES
        ),
        srp_B=challenge.B,
        srp_id=challenge.srp_id,
        hint=user.password.hint or None,
        **common,
    )


@route(functions.auth.CheckPassword, login=False)
def check_password(
    st: WorldState, call: Call, q: functions.auth.CheckPassword
) -> types.auth.Authorization:
    user = _password_user(st, call)
    challenge, call.auth.srp = call.auth.srp, None  # one check per challenge, right or wrong
    answer = q.password
    if user.password is None or not isinstance(answer, types.InputCheckPasswordSRP):
        raise RpcError(400, "PASSWORD_HASH_INVALID")
    if challenge is None or challenge.srp_id != answer.srp_id:
        raise RpcError(400, "SRP_ID_INVALID")
    if not challenge.verify(user.password, answer.A, answer.M1):
        raise RpcError(400, "PASSWORD_HASH_INVALID")
    if call.auth.user_id == user.id:
        return types.auth.Authorization(user=render.user(st, user, user.id))
    return bind(st, call.auth, user)
