"""Logging in to the world: codes, sign-up, two-step passwords (real SRP), bots, log-out,
authorizations, revocation, bans and the error counters."""

from __future__ import annotations

import os

import pytest
from pyrogram.raw import functions, types
from pyrogram.raw.core import BoolTrue
from pyrogram.utils import compute_password_check, compute_password_hash
from test_world_kit import Clock, Conn, logged_in

from tgfleet.sandbox.world import World

PHONE = "+15550001"


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def world(clock: Clock) -> World:
    return World(
        seed={
            "users": [
                {"phone": PHONE, "first_name": "Ann", "username": "annie"},
                {"phone": "+15550002", "first_name": "Bo", "password": "correct horse"},
            ],
            "bots": [{"token": "7000001:secretSECRET_1", "username": "echo_bot"}],
        },
        clock=clock,
    )


async def test_get_config_points_every_dc_at_the_sandbox(world: World) -> None:
    world.address = ("127.0.0.1", 40123)
    config = await Conn(world).call(functions.help.GetConfig())
    assert config.this_dc == 2
    assert [(o.id, o.ip_address, o.port) for o in config.dc_options] == [(2, "127.0.0.1", 40123)]
    nearest = await Conn(world).call(functions.help.GetNearestDc())
    assert (nearest.this_dc, nearest.nearest_dc) == (2, 2)


async def test_sign_in_returns_the_user_with_its_access_hash(world: World) -> None:
    conn = Conn(world)
    result = await conn.sign_in(PHONE)
    assert isinstance(result, types.auth.Authorization)
    user = result.user
    assert (user.is_self, user.first_name, user.username, user.phone) == (
        True,
        "Ann",
        "annie",
        "15550001",
    )
    assert user.access_hash == world.state.users[user.id].access_hash != 0
    state = await conn.call(functions.updates.GetState())
    assert state.pts == 0


@pytest.mark.parametrize("phone", ["", "+", "123", "+0015550001", "555-abc-0001", "1" * 16])
async def test_malformed_phone_is_invalid(world: World, phone: str) -> None:
    conn = Conn(world)
    error = await conn.error(
        functions.auth.SendCode(
            phone_number=phone, api_id=1, api_hash="x", settings=types.CodeSettings()
        )
    )
    assert (error.code, error.message) == (400, "PHONE_NUMBER_INVALID")


async def test_wrong_empty_expired_and_reused_codes(world: World, clock: Clock) -> None:
    conn = Conn(world)
    code_hash = await conn.send_code(PHONE)

    def sign_in(code: str, hash_: str = code_hash) -> functions.auth.SignIn:
        return functions.auth.SignIn(phone_number=PHONE, phone_code_hash=hash_, phone_code=code)

    assert (await conn.error(sign_in("00000"))).message == "PHONE_CODE_INVALID"
    assert (await conn.error(sign_in(""))).message == "PHONE_CODE_EMPTY"
    assert (await conn.error(sign_in("12345", ""))).message == "PHONE_CODE_HASH_EMPTY"
    assert (await conn.error(sign_in("12345", "feedbeef"))).message == "PHONE_CODE_EXPIRED"
    # A wrong try does not burn the code; a right one does.
    assert isinstance(await conn.call(sign_in("12345")), types.auth.Authorization)
    assert (await conn.error(sign_in("12345"))).message == "PHONE_CODE_EXPIRED"

    other = Conn(world)
    stale = await other.send_code(PHONE)
    clock.advance(world.state.code_ttl + 1)
    assert (await other.error(sign_in("12345", stale))).message == "PHONE_CODE_EXPIRED"


async def test_code_for_another_number_is_refused(world: World) -> None:
    conn = Conn(world)
    code_hash = await conn.send_code(PHONE)
    error = await conn.error(
        functions.auth.SignIn(
            phone_number="15550002", phone_code_hash=code_hash, phone_code="12345"
        )
    )
    assert error.message == "PHONE_CODE_EXPIRED"


async def test_unknown_number_must_sign_up(world: World) -> None:
    conn = Conn(world)
    phone = "+4915112345678"
    code_hash = await conn.send_code(phone)
    first = await conn.call(
        functions.auth.SignIn(phone_number=phone, phone_code_hash=code_hash, phone_code="12345")
    )
    assert isinstance(first, types.auth.AuthorizationSignUpRequired)
    assert (await conn.error(functions.updates.GetState())).message == "AUTH_KEY_UNREGISTERED"
    empty = await conn.error(
        functions.auth.SignUp(
            phone_number=phone, phone_code_hash=code_hash, first_name=" ", last_name=""
        )
    )
    assert empty.message == "FIRSTNAME_INVALID"
    done = await conn.call(
        functions.auth.SignUp(
            phone_number=phone, phone_code_hash=code_hash, first_name="Neu", last_name="Er"
        )
    )
    assert isinstance(done, types.auth.Authorization)
    assert (done.user.first_name, done.user.last_name, done.user.phone) == (
        "Neu",
        "Er",
        "4915112345678",
    )
    assert world.phone_of(conn.auth_key_id) == "4915112345678"


async def test_sign_up_needs_a_proven_code_and_a_free_number(world: World) -> None:
    conn = Conn(world)
    code_hash = await conn.send_code("+15559999")
    unproven = await conn.error(
        functions.auth.SignUp(
            phone_number="15559999", phone_code_hash=code_hash, first_name="X", last_name=""
        )
    )
    assert unproven.message == "PHONE_CODE_EMPTY"
    taken_hash = await conn.send_code(PHONE)
    taken = await conn.error(
        functions.auth.SignUp(
            phone_number=PHONE, phone_code_hash=taken_hash, first_name="X", last_name=""
        )
    )
    assert taken.message == "PHONE_CODE_EMPTY"


async def test_auto_sign_up_registers_unknown_numbers_on_sign_in(world: World) -> None:
    world.auto_sign_up = True
    result = await Conn(world).sign_in("+15551234")
    assert isinstance(result, types.auth.Authorization)
    assert result.user.first_name == "User 1234"


async def _password_flow(world: World, password: str) -> tuple[Conn, object]:
    conn = Conn(world)
    needed = await conn.error(functions.auth.SignIn(
        phone_number="15550002",
        phone_code_hash=await conn.send_code("15550002"),
        phone_code="12345",
    ))  # fmt: skip
    assert (needed.code, needed.message) == (401, "SESSION_PASSWORD_NEEDED")
    state = await conn.error(functions.updates.GetState())
    assert state.message == "AUTH_KEY_UNREGISTERED"
    srp = await conn.call(functions.account.GetPassword())
    assert srp.has_password and len(srp.srp_B) == 256
    check = compute_password_check(srp, password)
    try:
        return conn, await conn.call(functions.auth.CheckPassword(password=check))
    except Exception as error:  # handed back for the test to look at
        return conn, error


async def test_two_step_password_right(world: World) -> None:
    conn, result = await _password_flow(world, "correct horse")
    assert isinstance(result, types.auth.Authorization)
    assert result.user.first_name == "Bo"
    assert world.phone_of(conn.auth_key_id) == "15550002"
    assert (await conn.call(functions.updates.GetState())).pts == 0


async def test_two_step_password_wrong(world: World) -> None:
    conn, result = await _password_flow(world, "wrong horse")
    assert getattr(result, "message", None) == "PASSWORD_HASH_INVALID"
    assert world.phone_of(conn.auth_key_id) is None
    assert world.counters["PASSWORD_HASH_INVALID"] == 1
    # A challenge answers once: replaying even the right proof needs a fresh getPassword.
    srp = await conn.call(functions.account.GetPassword())
    check = compute_password_check(srp, "correct horse")
    assert isinstance(
        await conn.call(functions.auth.CheckPassword(password=check)), types.auth.Authorization
    )
    replay = await conn.error(functions.auth.CheckPassword(password=check))
    assert replay.message == "SRP_ID_INVALID"


async def test_password_checks_refuse_empty_proofs_and_strangers(world: World) -> None:
    conn, _ = await _password_flow(world, "wrong horse")
    await conn.call(functions.account.GetPassword())
    empty = await conn.error(functions.auth.CheckPassword(password=types.InputCheckPasswordEmpty()))
    assert empty.message == "PASSWORD_HASH_INVALID"
    stranger = Conn(world)
    assert (await stranger.error(functions.account.GetPassword())).code == 401


async def test_password_set_later_and_get_password_without_one(world: World) -> None:
    conn = await logged_in(world, PHONE)
    plain = await conn.call(functions.account.GetPassword())
    assert not plain.has_password and plain.new_algo.g == 3
    world.set_password(PHONE, "s3cret", hint="usual")
    srp = await conn.call(functions.account.GetPassword())
    assert srp.has_password and srp.hint == "usual"
    other = Conn(world)
    with pytest.raises(Exception, match="SESSION_PASSWORD_NEEDED"):
        await other.sign_in(PHONE)


async def test_bot_token_login(world: World) -> None:
    conn = Conn(world)
    result = await conn.call(
        functions.auth.ImportBotAuthorization(
            flags=0, api_id=1, api_hash="x", bot_auth_token="7000001:secretSECRET_1"
        )
    )
    assert isinstance(result, types.auth.Authorization)
    assert (result.user.id, result.user.bot, result.user.username) == (7000001, True, "echo_bot")
    assert world.phone_of(conn.auth_key_id) is None
    assert world.state.users[7000001].bot
    # As on Telegram, bots see no dialog list and no history.
    for query in (
        functions.messages.GetDialogs(
            offset_date=0, offset_id=0, offset_peer=types.InputPeerEmpty(), limit=10, hash=0
        ),
        functions.messages.GetHistory(
            peer=types.InputPeerSelf(),
            offset_id=0,
            offset_date=0,
            add_offset=0,
            limit=1,
            max_id=0,
            min_id=0,
            hash=0,
        ),
        functions.messages.ReadHistory(peer=types.InputPeerSelf(), max_id=0),
    ):
        assert (await conn.error(query)).message == "BOT_METHOD_INVALID"


@pytest.mark.parametrize(
    "token", ["7000001:wrong", "7000002:secretSECRET_1", "nonsense", "", "15550001:x"]
)
async def test_bad_bot_tokens(world: World, token: str) -> None:
    error = await Conn(world).error(
        functions.auth.ImportBotAuthorization(flags=0, api_id=1, api_hash="x", bot_auth_token=token)
    )
    assert (error.code, error.message) == (400, "ACCESS_TOKEN_INVALID")


async def test_add_bot_makes_a_working_token(world: World) -> None:
    token = world.add_bot("helper_bot", "Helper")
    result = await Conn(world).call(
        functions.auth.ImportBotAuthorization(flags=0, api_id=1, api_hash="x", bot_auth_token=token)
    )
    assert result.user.first_name == "Helper"


async def test_unknown_method_is_a_clear_400_and_counted(world: World) -> None:
    conn = await logged_in(world, PHONE)
    error = await conn.error(functions.account.GetWallPapers(hash=0))
    assert (error.code, error.message) == (400, "METHOD_NOT_SUPPORTED_IN_SANDBOX")
    assert world.counters["METHOD_NOT_SUPPORTED_IN_SANDBOX"] == 1


async def test_calls_need_a_login_and_a_known_key(world: World) -> None:
    fresh = Conn(world)
    error = await fresh.error(functions.users.GetUsers(id=[types.InputUserSelf()]))
    assert (error.code, error.message) == (401, "AUTH_KEY_UNREGISTERED")
    unknown = Conn(world, auth_key_id=4242)  # never registered
    assert world.auth_key(4242) is None
    assert (await unknown.error(functions.help.GetConfig())).message == "AUTH_KEY_UNREGISTERED"


async def test_log_out_ends_the_authorization(world: World) -> None:
    conn = await logged_in(world, PHONE)
    assert isinstance(await conn.call(functions.auth.LogOut()), types.auth.LoggedOut)
    assert world.phone_of(conn.auth_key_id) is None
    assert (await conn.error(functions.updates.GetState())).message == "AUTH_KEY_UNREGISTERED"
    # The key itself is still known: it may log in again.
    assert world.auth_key(conn.auth_key_id) is not None
    assert isinstance(await conn.sign_in(PHONE), types.auth.Authorization)


async def test_revoke_and_ban_answer_401_and_are_counted(world: World) -> None:
    one = await logged_in(world, PHONE)
    two = await logged_in(world, PHONE)
    world.revoke_authorization(one.auth_key_id)
    error = await one.error(functions.updates.GetState())
    assert (error.code, error.message) == (401, "AUTH_KEY_UNREGISTERED")
    assert world.state.auths[one.auth_key_id].revoked
    await two.call(functions.updates.GetState())  # the other authorization lives on

    world.ban_user(PHONE)
    banned = await two.error(functions.updates.GetState())
    assert (banned.code, banned.message) == (401, "USER_DEACTIVATED_BAN")
    refused = await Conn(world).error(functions.auth.SendCode(
        phone_number=PHONE, api_id=1, api_hash="x", settings=types.CodeSettings()
    ))  # fmt: skip
    assert refused.message == "PHONE_NUMBER_BANNED"
    assert world.counters["AUTH_KEY_UNREGISTERED"] == 1
    assert world.counters["USER_DEACTIVATED_BAN"] == 1
    with pytest.raises(KeyError, match="no auth key"):
        world.revoke_authorization(999)
    with pytest.raises(KeyError, match="no sandbox user with phone"):
        world.ban_user("+19999999")


async def test_authorizations_list_devices_and_reset_one(world: World) -> None:
    first = await logged_in(world, PHONE)
    second = await logged_in(world, PHONE)
    listed = await second.call(functions.account.GetAuthorizations())
    assert len(listed.authorizations) == 2
    current, other = listed.authorizations
    assert current.current and current.hash == 0
    assert current.device_model == second.ctx.device_model
    assert other.device_model == first.ctx.device_model
    assert other.ip == first.ctx.peer.rsplit(":", 1)[0]
    assert (other.api_id, other.app_version, other.system_version) == (12345, "1.0", "Linux 6.1")
    bad = await second.error(functions.account.ResetAuthorization(hash=0))
    assert bad.message == "HASH_INVALID"
    assert (
        await second.call(functions.account.ResetAuthorization(hash=other.hash))
    ).write() == BoolTrue()
    assert (await first.error(functions.updates.GetState())).message == "AUTH_KEY_UNREGISTERED"
    again = await second.call(functions.account.GetAuthorizations())
    assert len(again.authorizations) == 1


async def test_reset_authorizations_keeps_only_the_caller(world: World) -> None:
    keep = await logged_in(world, PHONE)
    drop = [await logged_in(world, PHONE) for _ in range(2)]
    assert (await keep.call(functions.auth.ResetAuthorizations())).write() == BoolTrue()
    for conn in drop:
        assert world.phone_of(conn.auth_key_id) is None
    assert world.phone_of(keep.auth_key_id) == "15550001"


def test_seed_errors_name_the_entry() -> None:
    with pytest.raises(ValueError, match=r"seed users\[1\]: phone 'abc'"):
        World(seed={"users": [{"phone": "+15550001"}, {"phone": "abc"}]})
    with pytest.raises(ValueError, match=r"seed bots\[0\]: a bot's username must end in 'bot'"):
        World(seed={"bots": [{"username": "helper"}]})
    with pytest.raises(ValueError, match=r"seed users\[1\]: phone '\+15550001' is already"):
        World(seed={"users": [{"phone": "+15550001"}, {"phone": "+15550001"}]})
    with pytest.raises(ValueError, match="unknown keys"):
        World(seed={"user": []})
    with pytest.raises(ValueError, match="login_code"):
        World(login_code="12")


async def test_seed_can_turn_on_auto_sign_up() -> None:
    world = World(seed={"auto_sign_up": True})
    result = await Conn(world).sign_in("+15554321")
    assert isinstance(result, types.auth.Authorization)
    with pytest.raises(ValueError, match="auto_sign_up must be true or false"):
        World(seed={"auto_sign_up": "yes"})


async def test_code_goes_to_the_other_sessions_as_a_service_message(world: World) -> None:
    first = Conn(world)
    sent = await first.call(functions.auth.SendCode(
        phone_number=PHONE, api_id=1, api_hash="x", settings=types.CodeSettings()
    ))  # fmt: skip
    assert isinstance(sent.type, types.auth.SentCodeTypeSms)  # no session yet: "SMS"
    await first.call(functions.auth.SignIn(
        phone_number=PHONE, phone_code_hash=sent.phone_code_hash, phone_code="12345"
    ))  # fmt: skip
    second = Conn(world)
    again = await second.call(functions.auth.SendCode(
        phone_number=PHONE, api_id=1, api_hash="x", settings=types.CodeSettings()
    ))  # fmt: skip
    assert isinstance(again.type, types.auth.SentCodeTypeApp)
    [update] = first.pushed_updates()
    assert update.message.peer_id == types.PeerUser(user_id=777000)
    assert "Login code: 12345" in update.message.message
    assert next(u for u in first.pushed[0].users if u.id == 777000).verified


async def test_resend_restarts_the_code_and_cancel_drops_it(world: World, clock: Clock) -> None:
    conn = Conn(world)
    code_hash = await conn.send_code(PHONE)
    clock.advance(world.state.code_ttl - 10)
    again = await conn.call(
        functions.auth.ResendCode(phone_number=PHONE, phone_code_hash=code_hash)
    )
    assert again.phone_code_hash == code_hash
    clock.advance(20)  # past the first send's expiry, not the resend's
    signed = await conn.call(
        functions.auth.SignIn(phone_number=PHONE, phone_code_hash=code_hash, phone_code="12345")
    )
    assert isinstance(signed, types.auth.Authorization)

    other = Conn(world)
    dropped = await other.send_code(PHONE)
    assert bool(
        await other.call(functions.auth.CancelCode(phone_number=PHONE, phone_code_hash=dropped))
    )
    late = await other.error(
        functions.auth.SignIn(phone_number=PHONE, phone_code_hash=dropped, phone_code="12345")
    )
    assert late.message == "PHONE_CODE_EXPIRED"
    stale = await other.error(
        functions.auth.ResendCode(phone_number=PHONE, phone_code_hash=dropped)
    )
    assert stale.message == "PHONE_CODE_EXPIRED"


def _new_settings(srp: types.account.Password, password: str, hint: str = "") -> object:
    """What Kurigram's enable/change_cloud_password send: the verifier, computed client-side."""
    algo = srp.new_algo
    algo.salt1 += os.urandom(32)
    x = int.from_bytes(compute_password_hash(algo, password), "big")
    verifier = pow(algo.g, x, int.from_bytes(algo.p, "big")).to_bytes(256, "big")
    return types.account.PasswordInputSettings(new_algo=algo, new_password_hash=verifier, hint=hint)


async def test_set_change_and_remove_a_password_with_real_srp(world: World) -> None:
    conn = await logged_in(world, PHONE)
    offer = await conn.call(functions.account.GetPassword())
    await conn.call(functions.account.UpdatePasswordSettings(
        password=types.InputCheckPasswordEmpty(), new_settings=_new_settings(offer, "first", "1st")
    ))  # fmt: skip
    stored = world.state.users[world.state.phones["15550001"]].password
    assert stored is not None and stored.hint == "1st" and len(stored.salt1) == 40

    # Changing needs a proof of the current password; a wrong one changes nothing.
    srp = await conn.call(functions.account.GetPassword())
    wrong = await conn.error(functions.account.UpdatePasswordSettings(
        password=compute_password_check(srp, "nope"), new_settings=_new_settings(srp, "second")
    ))  # fmt: skip
    assert wrong.message == "PASSWORD_HASH_INVALID"
    srp = await conn.call(functions.account.GetPassword())
    await conn.call(functions.account.UpdatePasswordSettings(
        password=compute_password_check(srp, "first"), new_settings=_new_settings(srp, "second")
    ))  # fmt: skip

    # A new login now needs the new password.
    other = Conn(world)
    with pytest.raises(Exception, match="SESSION_PASSWORD_NEEDED"):
        await other.sign_in(PHONE)
    srp = await other.call(functions.account.GetPassword())
    done = await other.call(
        functions.auth.CheckPassword(password=compute_password_check(srp, "second"))
    )
    assert isinstance(done, types.auth.Authorization)

    srp = await conn.call(functions.account.GetPassword())
    await conn.call(functions.account.UpdatePasswordSettings(
        password=compute_password_check(srp, "second"),
        new_settings=types.account.PasswordInputSettings(
            new_algo=types.PasswordKdfAlgoUnknown(), new_password_hash=b"", hint=""
        ),
    ))  # fmt: skip
    assert not (await conn.call(functions.account.GetPassword())).has_password


async def test_new_password_must_use_the_offered_salts(world: World) -> None:
    conn = await logged_in(world, PHONE)
    offer = await conn.call(functions.account.GetPassword())
    forged = _new_settings(offer, "pw")
    forged.new_algo.salt1 = os.urandom(40)
    bad = await conn.error(functions.account.UpdatePasswordSettings(
        password=types.InputCheckPasswordEmpty(), new_settings=forged
    ))  # fmt: skip
    assert bad.message == "NEW_SALT_INVALID"
    short = _new_settings(await conn.call(functions.account.GetPassword()), "pw")
    short.new_password_hash = b"\x01"
    invalid = await conn.error(functions.account.UpdatePasswordSettings(
        password=types.InputCheckPasswordEmpty(), new_settings=short
    ))  # fmt: skip
    assert invalid.message == "NEW_SETTINGS_INVALID"
