"""``World``: the sandbox's Telegram, as the protocol side and tests see it.

The protocol side registers auth keys, hands each decrypted API query to ``dispatch`` and tells
the world when a connection of a key goes live or closes. Operators and tests use the admin
methods (create users and bots, revoke, ban) and ``snapshot``/``restore`` for a state dir.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from tgfleet.sandbox.rpc import CallContext, RpcError
from tgfleet.sandbox.world import account, snapshot
from tgfleet.sandbox.world import seed as seeding
from tgfleet.sandbox.world.handlers import ROUTES
from tgfleet.sandbox.world.results import as_tl
from tgfleet.sandbox.world.srp import PasswordRecord
from tgfleet.sandbox.world.state import SERVICE_USER_ID, Authorization, Call, User, WorldState

UNSUPPORTED = "METHOD_NOT_SUPPORTED_IN_SANDBOX"


class World:
    """Users, bots, chats, messages and authorizations of one sandbox server."""

    def __init__(
        self,
        login_code: str = "12345",
        dc_id: int = 2,
        seed: dict[str, Any] | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        _check_login_code(login_code)
        if dc_id < 1:
            raise ValueError(f"dc_id must be a positive DC number, got {dc_id}")
        self.state = WorldState(login_code=login_code, dc_id=dc_id, clock=clock)
        if seed is not None:
            if not isinstance(seed, dict):
                raise ValueError("seed must be a JSON object with 'users' and/or 'bots'")
            seeding.apply_seed(self.state, seed)
        if SERVICE_USER_ID not in self.state.users:
            seeding.add_service_user(self.state)

    def __repr__(self) -> str:
        st = self.state
        live = sum(len(c) for c in st.connections.values())
        logged_in = sum(1 for a in st.auths.values() if a.user_id is not None)
        return (
            f"<World dc={st.dc_id} users={len(st.users)} chats={len(st.chats)} "
            f"auth_keys={len(st.auths)} logged_in={logged_in} connections={live}>"
        )

    # --- settings the protocol side or an operator sets --------------------------------------

    @property
    def address(self) -> tuple[str, int] | None:
        """Where clients reach the server; help.getConfig points every DC option at it."""
        return self.state.address

    @address.setter
    def address(self, value: tuple[str, int] | None) -> None:
        self.state.address = value

    @property
    def auto_sign_up(self) -> bool:
        """Sign unknown numbers up on auth.signIn instead of answering signUpRequired."""
        return self.state.auto_sign_up

    @auto_sign_up.setter
    def auto_sign_up(self, value: bool) -> None:
        self.state.auto_sign_up = value

    @property
    def login_code(self) -> str:
        """The code every phone receives; codes already sent keep the value they had."""
        return self.state.login_code

    @login_code.setter
    def login_code(self, value: str) -> None:
        _check_login_code(value)
        self.state.login_code = value

    @property
    def dc_id(self) -> int:
        return self.state.dc_id

    @property
    def counters(self) -> Counter[str]:
        """How often each rpc error name was raised (the protocol side may add its own)."""
        return self.state.counters

    @counters.setter
    def counters(self, value: Counter[str]) -> None:
        self.state.counters = value

    # --- auth keys and connections -------------------------------------------------------------

    def register_auth_key(self, auth_key_id: int, auth_key: bytes) -> None:
        existing = self.state.auths.get(auth_key_id)
        if existing is not None:
            if existing.auth_key != auth_key:
                raise ValueError(f"auth key id {auth_key_id} is already registered to another key")
            return
        self.state.auths[auth_key_id] = Authorization(
            auth_key_id=auth_key_id, auth_key=auth_key, created=self.state.now()
        )

    def auth_key(self, auth_key_id: int) -> bytes | None:
        found = self.state.auths.get(auth_key_id)
        return None if found is None else found.auth_key

    def attach(self, ctx: CallContext) -> None:
        self.state.connections.setdefault(ctx.auth_key_id, {})[ctx.conn_id] = ctx

    def detach(self, ctx: CallContext) -> None:
        conns = self.state.connections.get(ctx.auth_key_id)
        if conns is None:
            return
        conns.pop(ctx.conn_id, None)
        if not conns:
            del self.state.connections[ctx.auth_key_id]
        user = self._user_of(ctx.auth_key_id)
        if user is not None:
            user.was_online = self.state.now()

    # --- requests --------------------------------------------------------------------------------

    async def dispatch(self, ctx: CallContext, query: Any) -> Any:
        """Answer one API query (already unwrapped from invokeWithLayer/initConnection)."""
        try:
            return as_tl(self._dispatch(ctx, query))
        except RpcError as error:
            self.state.counters[error.message] += 1
            raise

    def _dispatch(self, ctx: CallContext, query: Any) -> Any:
        st = self.state
        route = ROUTES.get(type(query))
        if route is None:
            raise RpcError(400, UNSUPPORTED)
        auth = st.auths.get(ctx.auth_key_id)
        if auth is None:
            raise RpcError(401, "AUTH_KEY_UNREGISTERED")
        self._note_device(auth, ctx)
        user = st.users.get(auth.user_id) if auth.user_id is not None else None
        if route.login:
            if user is None:
                raise RpcError(401, "AUTH_KEY_UNREGISTERED")
            if user.banned:
                raise RpcError(401, "USER_DEACTIVATED_BAN")
        if route.users_only and user is not None and user.bot:
            raise RpcError(400, "BOT_METHOD_INVALID")
        return route.handler(st, Call(ctx, auth, user), query)

    def _note_device(self, auth: Authorization, ctx: CallContext) -> None:
        # initConnection's fields arrive with the first call of each connection; account.
        # getAuthorizations shows the latest, as Telegram does.
        auth.active = self.state.now()
        auth.device_model = ctx.device_model or auth.device_model
        auth.system_version = ctx.system_version or auth.system_version
        auth.app_version = ctx.app_version or auth.app_version
        auth.lang_code = ctx.lang_code or auth.lang_code
        auth.api_id = ctx.api_id or auth.api_id
        if ctx.peer:
            auth.ip = ctx.peer.rsplit(":", 1)[0].strip("[]")

    # --- admin: inspect and change the world -----------------------------------------------------

    def _user_of(self, auth_key_id: int) -> User | None:
        auth = self.state.auths.get(auth_key_id)
        if auth is None or auth.user_id is None:
            return None
        return self.state.users.get(auth.user_id)

    def _user_by_phone(self, phone: str) -> User:
        user = self.state.user_by_phone("".join(c for c in phone if c.isdigit()))
        if user is None:
            raise KeyError(f"no sandbox user with phone {phone}")
        return user

    def phone_of(self, auth_key_id: int) -> str | None:
        """The phone number logged in on this key (None: unknown key, not logged in, a bot)."""
        user = self._user_of(auth_key_id)
        return None if user is None else user.phone

    def user_id_of(self, auth_key_id: int) -> int | None:
        user = self._user_of(auth_key_id)
        return None if user is None else user.id

    def auth_keys_of(self, phone: str) -> list[int]:
        """The auth key ids logged in as this phone number."""
        user = self._user_by_phone(phone)
        return [a.auth_key_id for a in self.state.auths_of(user.id)]

    def revoke_authorization(self, auth_key_id: int) -> None:
        """End the authorization on this key, as "terminate session" does: its next call
        needing a login answers 401 AUTH_KEY_UNREGISTERED."""
        auth = self.state.auths.get(auth_key_id)
        if auth is None:
            raise KeyError(f"no auth key with id {auth_key_id}")
        account.revoke(auth)

    def ban_user(self, phone: str) -> None:
        """Ban an account: its sessions answer 401 USER_DEACTIVATED_BAN, logins are refused."""
        self._user_by_phone(phone).banned = True

    def unban_user(self, phone: str) -> None:
        self._user_by_phone(phone).banned = False

    def add_user(
        self,
        phone: str,
        first_name: str,
        last_name: str = "",
        *,
        username: str | None = None,
        password: str | None = None,
        hint: str = "",
    ) -> int:
        """Register a user ahead of its first login; returns its id."""
        return seeding.create_user(
            self.state, phone, first_name, last_name, username=username, password=password,
            hint=hint,
        ).id  # fmt: skip

    def add_bot(self, username: str, first_name: str = "", *, token: str | None = None) -> str:
        """Create a bot; returns its token "<bot_id>:<secret>"."""
        return seeding.create_bot(self.state, username, first_name, token=token)[1]

    def set_password(self, phone: str, password: str | None, hint: str = "") -> None:
        """Set or clear a user's two-step password (PBKDF2 runs here, once)."""
        user = self._user_by_phone(phone)
        user.password = PasswordRecord.create(password, hint) if password else None

    # --- persistence -----------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """The world as a JSON-able dict (auth keys in hex); see ``snapshot.py`` for what is
        left out."""
        return snapshot.dump(self.state)

    @classmethod
    def restore(
        cls,
        data: dict[str, Any],
        *,
        clock: Callable[[], float] = time.time,
        login_code: str | None = None,
    ) -> World:
        """A world from ``snapshot()``'s output; ``login_code`` replaces the saved one (so a
        server restarted with another ``--login-code`` announces the code it really uses)."""
        world = cls.__new__(cls)
        world.state = WorldState(login_code=data["login_code"], dc_id=data["dc_id"], clock=clock)
        snapshot.load(data, world.state)
        if login_code is not None:
            world.login_code = login_code
        return world


def _check_login_code(code: str) -> None:
    if not (isinstance(code, str) and code.isdigit() and 5 <= len(code) <= 6):
        raise ValueError(f"login_code must be 5 or 6 digits, got {code!r}")
