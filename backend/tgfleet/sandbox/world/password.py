"""account.updatePasswordSettings: setting, changing and removing a two-step password.

The client sends the verifier ``v = g^x mod p`` it computed itself (the server never sees the
password), over salts the server offered in account.getPassword; changing or removing an
existing password needs an SRP proof of the current one, exactly as for logging in.
"""

from __future__ import annotations

from pyrogram.raw import functions, types

from tgfleet.sandbox.rpc import RpcError
from tgfleet.sandbox.world.registry import route
from tgfleet.sandbox.world.srp import P_BYTES, G, P, PasswordRecord
from tgfleet.sandbox.world.state import Call, User, WorldState

HINT_MAX = 64


def _prove_current(call: Call, me: User, proof: object) -> None:
    challenge, call.auth.srp = call.auth.srp, None  # one proof per challenge, as for login
    if me.password is None:
        if not isinstance(proof, types.InputCheckPasswordEmpty):
            raise RpcError(400, "PASSWORD_HASH_INVALID")
        return
    if not isinstance(proof, types.InputCheckPasswordSRP):
        raise RpcError(400, "PASSWORD_HASH_INVALID")
    if challenge is None or challenge.srp_id != proof.srp_id:
        raise RpcError(400, "SRP_ID_INVALID")
    if not challenge.verify(me.password, proof.A, proof.M1):
        raise RpcError(400, "PASSWORD_HASH_INVALID")


def _new_record(call: Call, settings: types.account.PasswordInputSettings) -> PasswordRecord:
    algo = settings.new_algo
    offered = call.auth.new_salts
    if not isinstance(
        algo, types.PasswordKdfAlgoSHA256SHA256PBKDF2HMACSHA512iter100000SHA256ModPow
    ):
        raise RpcError(400, "NEW_SETTINGS_INVALID")
    if algo.g != G or algo.p != P_BYTES:
        raise RpcError(400, "NEW_SETTINGS_INVALID")
    # Clients extend the offered salt1 with their own random bytes; salt2 comes back as is.
    if offered is None or not algo.salt1.startswith(offered[0]) or algo.salt2 != offered[1]:
        raise RpcError(400, "NEW_SALT_INVALID")
    verifier = settings.new_password_hash or b""
    if len(verifier) != 256 or not 1 < int.from_bytes(verifier, "big") < P - 1:
        raise RpcError(400, "NEW_SETTINGS_INVALID")
    hint = settings.hint or ""
    if len(hint) > HINT_MAX:
        raise RpcError(400, "PASSWORD_HINT_INVALID")
    return PasswordRecord(salt1=algo.salt1, salt2=algo.salt2, verifier=verifier, hint=hint)


@route(functions.account.UpdatePasswordSettings, users_only=True)
def update_password_settings(
    st: WorldState, call: Call, q: functions.account.UpdatePasswordSettings
) -> bool:
    me = call.me
    _prove_current(call, me, q.password)
    settings = q.new_settings
    if isinstance(settings.new_algo, types.PasswordKdfAlgoUnknown):
        me.password = None  # "no algorithm" is how clients remove the password
    else:
        # A recovery email is not confirmed in the sandbox (it sends no mail); it is ignored.
        me.password = _new_record(call, settings)
    call.auth.new_salts = None
    return True
