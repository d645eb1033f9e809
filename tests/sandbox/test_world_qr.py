"""QR login: export, accept from a logged-in session, the pushed updateLoginToken, success."""

from __future__ import annotations

import pytest
from pyrogram.raw import functions, types
from pyrogram.utils import compute_password_check
from test_world_kit import Clock, Conn, logged_in

from tgfleet.sandbox.world import World


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def world(clock: Clock) -> World:
    return World(
        seed={
            "users": [
                {"phone": "+15550001", "first_name": "Ann"},
                {"phone": "+15550002", "first_name": "Bo", "password": "pw"},
            ],
            "bots": [{"token": "7000001:tok", "username": "echo_bot"}],
        },
        clock=clock,
    )


def export() -> functions.auth.ExportLoginToken:
    return functions.auth.ExportLoginToken(api_id=1, api_hash="x", except_ids=[])


async def test_qr_handoff_gives_a_second_authorization(world: World) -> None:
    old = await logged_in(world, "15550001")
    new = Conn(world)
    token = await new.call(export())
    assert isinstance(token, types.auth.LoginToken) and len(token.token) >= 16

    accepted = await old.call(functions.auth.AcceptLoginToken(token=token.token))
    assert isinstance(accepted, types.Authorization)
    assert accepted.device_model == new.ctx.device_model and not accepted.current

    assert [type(u) for u in new.pushed_updates()] == [types.UpdateLoginToken]
    assert isinstance(new.pushed[0], types.UpdateShort)
    assert old.pushed == []

    success = await new.call(export())
    assert isinstance(success, types.auth.LoginTokenSuccess)
    assert success.authorization.user.first_name == "Ann"
    assert world.phone_of(new.auth_key_id) == "15550001"
    sessions = await new.call(functions.account.GetAuthorizations())
    assert len(sessions.authorizations) == 2
    # A new export after success starts a fresh QR code; the old one is gone.
    again = await old.error(functions.auth.AcceptLoginToken(token=token.token))
    assert again.message == "AUTH_TOKEN_INVALID"


async def test_token_errors(world: World, clock: Clock) -> None:
    old = await logged_in(world, "15550001")
    new = Conn(world)
    bogus = await old.error(functions.auth.AcceptLoginToken(token=b"nope"))
    assert bogus.message == "AUTH_TOKEN_INVALID"

    first = await new.call(export())
    second = await new.call(export())  # a fresh export replaces the previous code
    replaced = await old.error(functions.auth.AcceptLoginToken(token=first.token))
    assert replaced.message == "AUTH_TOKEN_INVALID"

    clock.advance(world.state.token_ttl)
    expired = await old.error(functions.auth.AcceptLoginToken(token=second.token))
    assert expired.message == "AUTH_TOKEN_EXPIRED"

    third = await new.call(export())
    await old.call(functions.auth.AcceptLoginToken(token=third.token))
    other = await logged_in(world, "15550001")
    twice = await other.error(functions.auth.AcceptLoginToken(token=third.token))
    assert twice.message == "AUTH_TOKEN_ALREADY_ACCEPTED"


async def test_bots_cannot_accept_and_strangers_must_log_in(world: World) -> None:
    new = Conn(world)
    token = await new.call(export())
    bot = Conn(world)
    await bot.call(functions.auth.ImportBotAuthorization(
        flags=0, api_id=1, api_hash="x", bot_auth_token="7000001:tok"
    ))  # fmt: skip
    refused = await bot.error(functions.auth.AcceptLoginToken(token=token.token))
    assert refused.message == "BOT_METHOD_INVALID"
    stranger = await Conn(world).error(functions.auth.AcceptLoginToken(token=token.token))
    assert stranger.message == "AUTH_KEY_UNREGISTERED"


async def test_qr_login_with_two_step_password(world: World) -> None:
    # Bo has a password; log an authorization in the long way first.
    old = Conn(world)
    with pytest.raises(Exception, match="SESSION_PASSWORD_NEEDED"):
        await old.sign_in("15550002")
    srp = await old.call(functions.account.GetPassword())
    await old.call(functions.auth.CheckPassword(password=compute_password_check(srp, "pw")))

    new = Conn(world)
    token = await new.call(export())
    await old.call(functions.auth.AcceptLoginToken(token=token.token))
    assert [type(u) for u in new.pushed_updates()] == [types.UpdateLoginToken]
    needed = await new.error(export())
    assert (needed.code, needed.message) == (401, "SESSION_PASSWORD_NEEDED")
    assert world.phone_of(new.auth_key_id) is None
    srp = await new.call(functions.account.GetPassword())
    done = await new.call(functions.auth.CheckPassword(password=compute_password_check(srp, "pw")))
    assert done.user.first_name == "Bo"
    assert world.phone_of(new.auth_key_id) == "15550002"


async def test_import_login_token_on_the_exporting_key(world: World) -> None:
    old = await logged_in(world, "15550001")
    new = Conn(world)
    token = await new.call(export())
    waiting = await new.call(functions.auth.ImportLoginToken(token=token.token))
    assert isinstance(waiting, types.auth.LoginToken)
    foreign = await Conn(world).error(functions.auth.ImportLoginToken(token=token.token))
    assert foreign.message == "AUTH_TOKEN_INVALID"
    await old.call(functions.auth.AcceptLoginToken(token=token.token))
    success = await new.call(functions.auth.ImportLoginToken(token=token.token))
    assert isinstance(success, types.auth.LoginTokenSuccess)


async def test_unclaimed_codes_and_tokens_are_forgotten(world: World, clock: Clock) -> None:
    conn = Conn(world)
    await conn.send_code("+15550001")
    await conn.call(export())
    assert len(world.state.codes) == 1 and len(world.state.tokens) == 1
    clock.advance(world.state.code_ttl + 1)
    await Conn(world).send_code("+15550002")
    await Conn(world).call(export())
    assert len(world.state.codes) == 1 and len(world.state.tokens) == 1
