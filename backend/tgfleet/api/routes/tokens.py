"""API tokens over the API (the panel's Settings page), beside ``tgfleet tokens`` on the command
line: both go through ``Access`` and ``UsersStore``, so a token made either way is the same.

A token is shown once, in the answer that creates it; the store keeps only its hash.
"""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from tgfleet.api.deps import AccessDep, CurrentUser
from tgfleet.api.routes.lookups import problems
from tgfleet.api.schemas import TokenCreatedOut, TokenIn, TokenOut
from tgfleet.errors import TokenNotFound
from tgfleet.store.users import ApiToken

router = APIRouter(prefix="/api/v1", tags=["tokens"])


def _out(token: ApiToken) -> TokenOut:
    return TokenOut(
        id=token.id,
        name=token.name,
        created_at=token.created_at,
        last_used_at=token.last_used_at,
        revoked_at=token.revoked_at,
    )


@router.get(
    "/tokens",
    summary="API tokens: names and dates, never the tokens",
    response_model=list[TokenOut],
    responses=problems(),
)
async def list_tokens(
    user: CurrentUser, access: AccessDep, include_revoked: bool = False
) -> list[TokenOut]:
    listed = await access.users.list_tokens()
    return [_out(t) for t in listed if include_revoked or not t.revoked]


@router.post(
    "/tokens",
    status_code=status.HTTP_201_CREATED,
    summary="Create an API token for the signed-in user; the token is in this answer only",
    response_model=TokenCreatedOut,
    responses=problems(409),
)
async def create_token(body: TokenIn, user: CurrentUser, access: AccessDep) -> TokenCreatedOut:
    token, plain = await access.create_api_token(body.name, username=user.username)
    return TokenCreatedOut(**_out(token).model_dump(), token=plain)


@router.delete(
    "/tokens/{token_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Revoke an API token; it stops working at its next request",
    response_class=Response,
    responses=problems(404),
)
async def revoke_token(token_id: int, user: CurrentUser, access: AccessDep) -> Response:
    live = {t.id: t for t in await access.users.list_tokens() if not t.revoked}
    token = live.get(token_id)
    if token is None:
        raise TokenNotFound(f"no live API token with id {token_id}")
    # live names are unique (UsersStore.create_token), so the name names this one token
    await access.revoke_api_token(token.name)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
