"""Acting through accounts, each call on a pooled connection: get_me, send, dialogs, history,
mark read, and one text sent from many accounts at once (``/messages/bulk``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from tgfleet.api.deps import CurrentUser, RuntimeDep
from tgfleet.api.problems import problem_fields
from tgfleet.api.routes.lookups import peer_of, problems, working_account
from tgfleet.api.schemas import (
    BulkOut,
    BulkResultOut,
    BulkSendIn,
    DialogOut,
    MeOut,
    MessageIn,
    MessageOut,
    PeerIn,
    ProblemOut,
    ReadOut,
    SentOut,
)
from tgfleet.errors import InvalidInput
from tgfleet.services.actions import Outgoing
from tgfleet.store.validation import normalize_account_key

router = APIRouter(prefix="/api/v1", tags=["actions"])

MAX_MESSAGES = 200
# what an action through the pool may answer besides the account's own 404/409
_THROUGH_POOL = (400, 404, 409, 429, 502, 503)


@router.get(
    "/accounts/{key}/me",
    summary="The account's own user, asked of Telegram",
    response_model=MeOut,
    responses=problems(*_THROUGH_POOL),
)
async def get_me(key: str, user: CurrentUser, runtime: RuntimeDep) -> MeOut:
    account = await working_account(runtime, key)
    me = await runtime.actions.get_me(account.key)
    return MeOut(
        id=me.id, first_name=me.first_name, username=me.username, phone=me.phone, is_bot=me.is_bot
    )


@router.post(
    "/accounts/{key}/messages",
    status_code=status.HTTP_201_CREATED,
    summary="Send a text message to a peer (username, phone or chat id)",
    response_model=SentOut,
    responses=problems(*_THROUGH_POOL),
)
async def send_message(
    key: str, body: MessageIn, user: CurrentUser, runtime: RuntimeDep
) -> SentOut:
    account = await working_account(runtime, key)
    sent = await runtime.actions.send_message(account.key, peer_of(body.peer), body.text)
    return SentOut(chat_id=sent.chat_id, message_id=sent.message_id, text=sent.text)


@router.get(
    "/accounts/{key}/dialogs",
    summary="The account's dialogs, newest first",
    response_model=list[DialogOut],
    responses=problems(*_THROUGH_POOL),
)
async def dialogs(
    key: str,
    user: CurrentUser,
    runtime: RuntimeDep,
    limit: Annotated[int, Query(ge=1, le=MAX_MESSAGES)] = 50,
) -> list[DialogOut]:
    account = await working_account(runtime, key)
    found = await runtime.actions.dialogs(account.key, limit=limit)
    return [DialogOut(chat_id=d.chat_id, title=d.title, unread=d.unread) for d in found]


@router.get(
    "/accounts/{key}/history",
    summary="Messages with a peer, newest first",
    response_model=list[MessageOut],
    responses=problems(*_THROUGH_POOL),
)
async def history(
    key: str,
    user: CurrentUser,
    runtime: RuntimeDep,
    peer: Annotated[str, Query(min_length=1, max_length=64)],
    limit: Annotated[int, Query(ge=1, le=MAX_MESSAGES)] = 50,
) -> list[MessageOut]:
    account = await working_account(runtime, key)
    found = await runtime.actions.history(account.key, peer_of(peer), limit=limit)
    return [
        MessageOut(
            chat_id=m.chat_id,
            message_id=m.message_id,
            sender_id=m.sender_id,
            text=m.text,
            outgoing=m.outgoing,
        )
        for m in found
    ]


@router.post(
    "/accounts/{key}/read",
    summary="Mark the history with a peer as read",
    response_model=ReadOut,
    responses=problems(*_THROUGH_POOL),
)
async def mark_read(key: str, body: PeerIn, user: CurrentUser, runtime: RuntimeDep) -> ReadOut:
    account = await working_account(runtime, key)
    return ReadOut(read=await runtime.actions.read(account.key, peer_of(body.peer)))


@router.post(
    "/messages/bulk",
    summary="Send one text from several accounts at once; the answer tells each account's "
    "outcome (a flood or refusal of one never fails the others)",
    response_model=BulkOut,
    responses=problems(),
)
async def send_bulk(body: BulkSendIn, user: CurrentUser, runtime: RuntimeDep) -> BulkOut:
    outgoing = _bulk_messages(body)

    async def resolve(key: str) -> str:
        return (await working_account(runtime, key)).key

    outcomes = await runtime.actions.send_many(outgoing, resolve=resolve)
    results: list[BulkResultOut] = []
    for outcome in outcomes:
        if outcome.sent is not None:
            results.append(
                BulkResultOut(
                    account=outcome.account,
                    ok=True,
                    chat_id=outcome.sent.chat_id,
                    message_id=outcome.sent.message_id,
                )
            )
        else:
            assert outcome.error is not None
            problem = ProblemOut(**problem_fields(outcome.error))
            results.append(BulkResultOut(account=outcome.account, ok=False, problem=problem))
    sent = sum(r.ok for r in results)
    return BulkOut(sent=sent, failed=len(results) - sent, results=results)


def _bulk_messages(body: BulkSendIn) -> list[Outgoing]:
    """The messages to send, decided for the whole request before any is sent: a malformed
    or repeated sender, or a peer for an account that does not send, is the request's
    mistake (422); an unknown or disabled account is only that account's outcome."""
    senders: dict[str, int] = {}
    for index, given in enumerate(body.from_):
        key, _ = normalize_account_key(given, field=f"from.{index}")
        if key in senders:
            raise InvalidInput(
                f"from.{index}: {key} is already sender {senders[key]}; each account sends once"
            )
        senders[key] = index
    peers: dict[str, str] = {}
    for given, own in (body.peers or {}).items():
        key, _ = normalize_account_key(given, field="peers")
        if key not in senders:
            raise InvalidInput(f"peers: {key} is not one of the senders in `from`")
        peers[key] = own
    messages: list[Outgoing] = []
    for key in senders:
        peer = peers.get(key, body.to)
        if peer is None:
            raise InvalidInput(f"to: {key} has no peer; give `to`, or its own in `peers`")
        messages.append(Outgoing(key, peer_of(peer), body.text))
    return messages
