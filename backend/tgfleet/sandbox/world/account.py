"""account.*: the authorizations of an account and its profile."""

from __future__ import annotations

import re

from pyrogram.raw import functions, types

from tgfleet.sandbox.rpc import RpcError
from tgfleet.sandbox.world import render
from tgfleet.sandbox.world.auth import unbind
from tgfleet.sandbox.world.registry import route
from tgfleet.sandbox.world.state import Authorization, Call, WorldState

USERNAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9_]{4,31}")
AUTHORIZATION_TTL_DAYS = 180


def authorization_tl(auth: Authorization, *, current: bool) -> types.Authorization:
    return types.Authorization(
        hash=0 if current else auth.hash,  # Telegram never gives out the current session's hash
        device_model=auth.device_model,
        platform=auth.system_version.split(" ")[0] if auth.system_version else "",
        system_version=auth.system_version,
        api_id=auth.api_id,
        app_name="",
        app_version=auth.app_version,
        date_created=auth.logged_in_at,
        date_active=auth.active,
        ip=auth.ip,
        country="Sandbox",
        region="",
        current=current,
        password_pending=auth.password_pending_user is not None,
    )


@route(functions.account.GetAuthorizations, users_only=True)
def get_authorizations(
    st: WorldState, call: Call, q: functions.account.GetAuthorizations
) -> types.account.Authorizations:
    me = call.me
    mine = [
        a
        for a in st.auths.values()
        if a.user_id == me.id or (a.user_id is None and a.password_pending_user == me.id)
    ]
    mine.sort(key=lambda a: (a is not call.auth, -a.logged_in_at))
    return types.account.Authorizations(
        authorization_ttl_days=AUTHORIZATION_TTL_DAYS,
        authorizations=[authorization_tl(a, current=a is call.auth) for a in mine],
    )


@route(functions.account.ResetAuthorization, users_only=True)
def reset_authorization(
    st: WorldState, call: Call, q: functions.account.ResetAuthorization
) -> bool:
    me = call.me
    for auth in st.auths.values():
        if auth is call.auth or auth.hash != q.hash:
            continue
        if auth.user_id == me.id or auth.password_pending_user == me.id:
            revoke(auth)
            return True
    raise RpcError(400, "HASH_INVALID")


@route(functions.auth.ResetAuthorizations, users_only=True)
def reset_authorizations(st: WorldState, call: Call, q: functions.auth.ResetAuthorizations) -> bool:
    for auth in list(st.auths_of(call.me.id)):
        if auth is not call.auth:
            revoke(auth)
    return True


def revoke(auth: Authorization) -> None:
    """End an authorization for good: its key answers 401 until it logs in anew."""
    unbind(auth, revoked=True)


@route(functions.account.UpdateProfile)
def update_profile(st: WorldState, call: Call, q: functions.account.UpdateProfile) -> types.User:
    me = call.me
    if q.first_name is not None:
        if not q.first_name.strip():
            raise RpcError(400, "FIRSTNAME_INVALID")
        me.first_name = q.first_name.strip()
    if q.last_name is not None:
        me.last_name = q.last_name.strip()
    if q.about is not None:
        me.about = q.about
    return render.user(st, me, me.id)


def _check_username(st: WorldState, call: Call, username: str) -> None:
    if not USERNAME_RE.fullmatch(username):
        raise RpcError(400, "USERNAME_INVALID")
    owner = st.user_by_username(username)
    if owner is not None and owner.id != call.me.id:
        raise RpcError(400, "USERNAME_OCCUPIED")


@route(functions.account.CheckUsername, users_only=True)
def check_username(st: WorldState, call: Call, q: functions.account.CheckUsername) -> bool:
    _check_username(st, call, q.username)
    return True


@route(functions.account.UpdateUsername, users_only=True)
def update_username(st: WorldState, call: Call, q: functions.account.UpdateUsername) -> types.User:
    me = call.me
    if q.username:
        _check_username(st, call, q.username)
    elif me.username is None:
        raise RpcError(400, "USERNAME_NOT_MODIFIED")
    st.set_username(me, q.username or None)
    return render.user(st, me, me.id)


@route(functions.account.UpdateStatus)
def update_status(st: WorldState, call: Call, q: functions.account.UpdateStatus) -> bool:
    call.me.was_online = st.now()
    return True
