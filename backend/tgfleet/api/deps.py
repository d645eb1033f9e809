"""FastAPI dependencies every /api route uses: ``RuntimeDep`` and ``CurrentUser``.

``require_user`` accepts either an API token (``Authorization: Bearer tgf_...``; scripts) or
the browser session cookie. A request signed in by cookie must also prove, on every unsafe
method, that it was made by a page that could read the CSRF cookie (see ``tgfleet.api.access``).
A bearer token is never sent by a browser on its own, so it needs no CSRF token.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from tgfleet.api.access import CSRF_COOKIE, CSRF_HEADER, SESSION_COOKIE, Access, csrf_matches
from tgfleet.errors import NotAuthenticated, PermissionDenied, PoolClosed
from tgfleet.runtime import Runtime
from tgfleet.store.users import User

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


# async, though they do no I/O: FastAPI runs a plain ``def`` dependency in a worker thread, two
# thread hops on every request for reading an attribute
async def get_runtime(request: Request) -> Runtime:
    runtime: Runtime | None = getattr(request.app.state, "runtime", None)
    if runtime is None:
        raise PoolClosed("the daemon is starting or stopping; try again shortly")
    return runtime


async def get_access(request: Request) -> Access:
    access: Access | None = getattr(request.app.state, "access", None)
    if access is None:
        raise PoolClosed("the daemon is starting or stopping; try again shortly")
    return access


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
AccessDep = Annotated[Access, Depends(get_access)]


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise NotAuthenticated("the Authorization header must be 'Bearer <API token>'")
    return token.strip()


async def require_user(request: Request, access: AccessDep) -> User:
    token = bearer_token(request)
    if token is not None:
        user = await access.user_for_api_token(token)
        if user is None:
            raise NotAuthenticated("the API token is unknown or revoked")
        request.state.auth = "token"
        return user
    session = request.cookies.get(SESSION_COOKIE)
    if not session:
        raise NotAuthenticated(
            "sign in with POST /api/v1/auth/login or send 'Authorization: Bearer <API token>'"
        )
    user = await access.user_for_session(session)
    if user is None:
        raise NotAuthenticated("the session has ended; sign in again")
    if request.method not in SAFE_METHODS and not csrf_matches(
        session, request.cookies.get(CSRF_COOKIE), request.headers.get(CSRF_HEADER)
    ):
        raise PermissionDenied(
            f"missing or wrong {CSRF_HEADER} header: send the value of the {CSRF_COOKIE} cookie"
        )
    request.state.auth = "session"
    return user


CurrentUser = Annotated[User, Depends(require_user)]
