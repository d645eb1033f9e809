"""QR login: a new auth key exports a token, a logged-in session of the user accepts it.

The exporting connection learns of the acceptance from ``updateLoginToken`` (sent as
``updateShort``), calls auth.exportLoginToken again and gets ``auth.loginTokenSuccess``.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any

from pyrogram.raw import functions, types

from tgfleet.sandbox.rpc import RpcError
from tgfleet.sandbox.world import render
from tgfleet.sandbox.world.account import authorization_tl
from tgfleet.sandbox.world.auth import login_or_password
from tgfleet.sandbox.world.registry import route
from tgfleet.sandbox.world.state import Call, LoginToken, WorldState


def _live_token(st: WorldState, token: bytes) -> LoginToken:
    found = st.tokens.get(token)
    if found is None:
        raise RpcError(400, "AUTH_TOKEN_INVALID")
    if st.now() >= found.expires:
        del st.tokens[token]
        raise RpcError(400, "AUTH_TOKEN_EXPIRED")
    return found


def _success(st: WorldState, call: Call) -> types.auth.LoginTokenSuccess:
    me = call.me
    return types.auth.LoginTokenSuccess(
        authorization=types.auth.Authorization(user=render.user(st, me, me.id))
    )


def _accepted_token(st: WorldState, call: Call) -> LoginToken | None:
    token = call.auth.login_token
    found = st.tokens.get(token) if token is not None else None
    return found if found is not None and found.accepted_by is not None else None


@route(functions.auth.ExportLoginToken, login=False)
def export_login_token(st: WorldState, call: Call, q: functions.auth.ExportLoginToken) -> Any:
    accepted = _accepted_token(st, call)
    if accepted is not None:
        if call.auth.password_pending_user is not None:
            raise RpcError(401, "SESSION_PASSWORD_NEEDED")
        del st.tokens[accepted.token]
        call.auth.login_token = None
        return _success(st, call)
    if call.auth.login_token is not None:  # a fresh export replaces the previous QR code
        st.tokens.pop(call.auth.login_token, None)
    st.purge_expired()
    token = LoginToken(
        token=os.urandom(32), auth_key_id=call.auth.auth_key_id, expires=st.now() + st.token_ttl
    )
    st.tokens[token.token] = token
    call.auth.login_token = token.token
    return types.auth.LoginToken(expires=token.expires, token=token.token)


@route(functions.auth.AcceptLoginToken, users_only=True)
def accept_login_token(
    st: WorldState, call: Call, q: functions.auth.AcceptLoginToken
) -> types.Authorization:
    me = call.me
    token = _live_token(st, q.token)
    if token.accepted_by is not None:
        raise RpcError(400, "AUTH_TOKEN_ALREADY_ACCEPTED")
    target = st.auths.get(token.auth_key_id)
    if target is None or target.login_token != token.token:
        raise RpcError(400, "AUTH_TOKEN_INVALID")
    token.accepted_by = me.id
    # With a two-step password the new session is told when it exports the token again.
    with contextlib.suppress(RpcError):
        login_or_password(st, target, me)
    target.login_token = token.token  # bind() cleared it; the next export must find it
    st.push_to_key(
        target.auth_key_id,
        types.UpdateShort(update=types.UpdateLoginToken(), date=st.now()),
    )
    return authorization_tl(target, current=False)


@route(functions.auth.ImportLoginToken, login=False)
def import_login_token(st: WorldState, call: Call, q: functions.auth.ImportLoginToken) -> Any:
    token = _live_token(st, q.token)
    if token.auth_key_id != call.auth.auth_key_id:
        # One DC: a token only ever comes back to the key that exported it.
        raise RpcError(400, "AUTH_TOKEN_INVALID")
    if token.accepted_by is None:
        return types.auth.LoginToken(expires=token.expires, token=token.token)
    if call.auth.password_pending_user is not None:
        raise RpcError(401, "SESSION_PASSWORD_NEEDED")
    del st.tokens[token.token]
    call.auth.login_token = None
    return _success(st, call)
