"""Sign-in for browsers (session cookie + CSRF cookie) and who am I, under /api/v1/auth."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from tgfleet.api.access import CSRF_COOKIE, SESSION_COOKIE
from tgfleet.api.deps import AccessDep, CurrentUser
from tgfleet.store.users import User

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


class Credentials(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


class UserOut(BaseModel):
    username: str
    created_at: datetime

    @classmethod
    def of(cls, user: User) -> UserOut:
        return cls(username=user.username, created_at=user.created_at)


class SignInOut(BaseModel):
    user: UserOut
    csrf_token: str = Field(description="send it back as the X-CSRF-Token header")
    expires_at: float


def _client(request: Request) -> str:
    return request.client.host if request.client is not None else "unknown"


@router.post("/login", summary="Sign in; sets the session and CSRF cookies")
async def login(
    credentials: Credentials, request: Request, response: Response, access: AccessDep
) -> SignInOut:
    signed = await access.sign_in(credentials.username, credentials.password, _client(request))
    secure = request.url.scheme == "https"
    max_age = int(access.session_ttl)
    response.set_cookie(
        SESSION_COOKIE,
        signed.session_token,
        max_age=max_age,
        httponly=True,
        samesite="strict",
        secure=secure,
        path="/",
    )
    # readable by the panel's script, which echoes it in the X-CSRF-Token header
    response.set_cookie(
        CSRF_COOKIE,
        signed.csrf_token,
        max_age=max_age,
        httponly=False,
        samesite="strict",
        secure=secure,
        path="/",
    )
    return SignInOut(
        user=UserOut.of(signed.user), csrf_token=signed.csrf_token, expires_at=signed.expires_at
    )


@router.post("/logout", status_code=204, summary="End the browser session")
async def logout(request: Request, user: CurrentUser, access: AccessDep) -> Response:
    session = request.cookies.get(SESSION_COOKIE)
    if session:
        await access.sign_out(session)
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    response.delete_cookie(CSRF_COOKIE, path="/", samesite="strict")
    return response


@router.get("/me", summary="The signed-in user")
async def me(user: CurrentUser) -> UserOut:
    return UserOut.of(user)
