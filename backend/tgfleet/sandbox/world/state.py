"""The records of the sandbox's Telegram world and the container that holds them.

Records that change over their life (a user's message box, an authorization being used) are
plain mutable dataclasses owned by ``WorldState``; values that never change once made (a
message copy, a pending login code, a password) are frozen. Nothing here speaks TL: rendering
to API objects lives in ``render.py``.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from tgfleet.sandbox.rpc import CallContext, RpcError
from tgfleet.sandbox.world.srp import PasswordRecord, SrpChallenge

PeerKind = Literal["user", "chat"]
PeerKey = tuple[PeerKind, int]  # ("user", 1000001) or ("chat", 42): one dialog of a box

SERVICE_USER_ID = 777000  # Telegram's own service account, the sender of login codes


def random_int63() -> int:
    return int.from_bytes(os.urandom(8), "big") >> 1 or 1


@dataclass(frozen=True, slots=True)
class Message:
    """One copy of a message in one user's box (each member of a chat has its own copy and id).

    ``origin_id`` is the id of the sender's copy, so reading a copy can mark the sender's
    outbox read without a global index.
    """

    id: int
    peer: PeerKey
    from_id: int
    out: bool
    date: int
    text: str
    origin_id: int
    action: str = ""  # "" for a plain message; "chat_create" for a service message
    action_title: str = ""
    action_users: tuple[int, ...] = ()
    reply_to: int = 0  # id, in the same box, of the message this one answers
    edit_date: int = 0
    entities: tuple[Any, ...] = ()  # MessageEntity* TL objects (bold, links, mentions, ...)


@dataclass(slots=True)
class Dialog:
    """A conversation as one user sees it: its message ids (ascending) and read marks."""

    peer: PeerKey
    message_ids: list[int] = field(default_factory=list)
    read_inbox_max_id: int = 0
    read_outbox_max_id: int = 0
    unread: int = 0  # incoming messages above read_inbox_max_id, kept so reads of it are O(1)


UpdateKind = Literal["new_message", "edit_message", "delete_messages", "read_inbox", "read_outbox"]


@dataclass(frozen=True, slots=True)
class UpdateEvent:
    """One pts step of a user's update log, replayed by updates.getDifference."""

    pts: int
    kind: UpdateKind
    date: int
    message_id: int = 0  # new_message / edit_message
    peer: PeerKey | None = None  # read_inbox / read_outbox
    max_id: int = 0
    still_unread: int = 0
    message_ids: tuple[int, ...] = ()  # delete_messages


@dataclass(slots=True)
class User:
    """A user or bot account, with its private message box and update log."""

    id: int
    access_hash: int
    first_name: str
    last_name: str = ""
    username: str | None = None
    phone: str | None = None  # digits only; None for bots
    bot: bool = False
    bot_secret: str | None = None  # the part after ":" of the bot token
    password: PasswordRecord | None = None
    banned: bool = False
    about: str = ""
    created: int = 0
    was_online: int = 0
    pts: int = 0
    next_message_id: int = 1
    messages: dict[int, Message] = field(default_factory=dict)
    dialogs: dict[PeerKey, Dialog] = field(default_factory=dict)
    log: list[UpdateEvent] = field(default_factory=list)
    random_ids: dict[int, int] = field(default_factory=dict)  # random_id -> message id
    # (sender id, id of the sender's copy) -> id of this box's copy: finds the message a reply
    # points at in every member's box.
    copies: dict[tuple[int, int], int] = field(default_factory=dict)
    contacts: dict[int, tuple[str, str]] = field(default_factory=dict)  # id -> saved names

    def dialog(self, peer: PeerKey) -> Dialog:
        found = self.dialogs.get(peer)
        if found is None:
            found = self.dialogs[peer] = Dialog(peer)
        return found

    def recount_unread(self, dialog: Dialog) -> None:
        count = 0
        for message_id in reversed(dialog.message_ids):
            if message_id <= dialog.read_inbox_max_id:
                break
            if not self.messages[message_id].out:
                count += 1
        dialog.unread = count


@dataclass(slots=True)
class Chat:
    """A basic group: its members share nothing but the title; each keeps its own copies."""

    id: int
    title: str
    creator_id: int
    date: int
    members: list[int]
    version: int = 1


@dataclass(slots=True)
class Authorization:
    """One auth key and, once logged in, the authorization it carries.

    ``user_id`` is None before login and after a logout or revocation; ``revoked`` tells the two
    apart for the protocol side (a revoked key answers 401 until it logs in again).
    """

    auth_key_id: int
    auth_key: bytes
    created: int
    hash: int = field(default_factory=random_int63)
    user_id: int | None = None
    logged_in_at: int = 0
    active: int = 0
    revoked: bool = False
    device_model: str = ""
    system_version: str = ""
    app_version: str = ""
    api_id: int = 0
    lang_code: str = ""
    ip: str = ""
    password_pending_user: int | None = None  # signed in with code/QR, password still due
    srp: SrpChallenge | None = None
    new_salts: tuple[bytes, bytes] | None = None  # salts offered for a new password
    login_token: bytes | None = None


@dataclass(frozen=True, slots=True)
class PendingCode:
    """A login code sent by auth.sendCode, valid until ``created + code_ttl``."""

    phone: str
    phone_code_hash: str
    code: str
    created: float
    verified: bool = False  # auth.signIn proved the code for a number that must sign up


@dataclass(slots=True)
class LoginToken:
    """A QR-login token exported by one auth key; accepted once by a logged-in user."""

    token: bytes
    auth_key_id: int
    expires: int
    accepted_by: int | None = None


@dataclass(frozen=True, slots=True)
class Call:
    """One dispatched request: who sent it and the authorization it rides on."""

    ctx: CallContext
    auth: Authorization
    user: User | None

    @property
    def me(self) -> User:
        if self.user is None:  # the router checks login first; this guards a routing mistake
            raise RpcError(401, "AUTH_KEY_UNREGISTERED")
        return self.user


@dataclass
class WorldState:
    """Everything the world knows, plus the few lookups every handler needs."""

    login_code: str
    dc_id: int
    clock: Callable[[], float] = time.time
    code_ttl: float = 300.0  # seconds a login code stays valid (Telegram: a few minutes)
    token_ttl: int = 30  # seconds a QR-login token stays valid, as on Telegram
    auto_sign_up: bool = False  # sign unknown numbers up on auth.signIn, for unattended demos
    address: tuple[str, int] | None = None  # where clients reach this world (help.getConfig)
    users: dict[int, User] = field(default_factory=dict)
    phones: dict[str, int] = field(default_factory=dict)
    usernames: dict[str, int] = field(default_factory=dict)  # lower-cased username -> user id
    auths: dict[int, Authorization] = field(default_factory=dict)  # by auth_key_id
    chats: dict[int, Chat] = field(default_factory=dict)
    codes: dict[str, PendingCode] = field(default_factory=dict)  # by phone_code_hash
    tokens: dict[bytes, LoginToken] = field(default_factory=dict)
    connections: dict[int, dict[int, CallContext]] = field(default_factory=dict)
    counters: Counter[str] = field(default_factory=Counter)
    next_user_id: int = 1_000_001
    next_chat_id: int = 1_001

    def now(self) -> int:
        return int(self.clock())

    # --- lookups --------------------------------------------------------------------------------

    def user_by_phone(self, phone: str) -> User | None:
        user_id = self.phones.get(phone)
        return None if user_id is None else self.users[user_id]

    def user_by_username(self, username: str) -> User | None:
        user_id = self.usernames.get(username.lower())
        return None if user_id is None else self.users[user_id]

    def auths_of(self, user_id: int) -> Iterator[Authorization]:
        return (a for a in self.auths.values() if a.user_id == user_id)

    def is_online(self, user_id: int) -> bool:
        return any(
            conns and self.auths[key_id].user_id == user_id
            for key_id, conns in self.connections.items()
            if key_id in self.auths
        )

    # --- changes --------------------------------------------------------------------------------

    def purge_expired(self) -> None:
        """Forget codes and QR tokens nobody came back for, so they cannot pile up."""
        now = self.clock()
        for code_hash in [h for h, c in self.codes.items() if now - c.created > self.code_ttl]:
            del self.codes[code_hash]
        for token in [t for t, v in self.tokens.items() if now >= v.expires]:
            del self.tokens[token]

    def allocate_user_id(self) -> int:
        while self.next_user_id in self.users:
            self.next_user_id += 1
        user_id = self.next_user_id
        self.next_user_id += 1
        return user_id

    def add_user(self, user: User) -> User:
        if user.id in self.users:
            raise ValueError(f"user id {user.id} already exists")
        if user.phone is not None and user.phone in self.phones:
            raise ValueError(
                f"phone {user.phone} already belongs to user {self.phones[user.phone]}"
            )
        if user.username is not None and user.username.lower() in self.usernames:
            raise ValueError(f"username @{user.username} is taken")
        self.users[user.id] = user
        if user.phone is not None:
            self.phones[user.phone] = user.id
        if user.username is not None:
            self.usernames[user.username.lower()] = user.id
        return user

    def set_username(self, user: User, username: str | None) -> None:
        if user.username is not None:
            self.usernames.pop(user.username.lower(), None)
        user.username = username
        if username is not None:
            self.usernames[username.lower()] = user.id

    def log_event(self, user: User, kind: UpdateKind, **values: Any) -> UpdateEvent:
        user.pts += 1
        event = UpdateEvent(pts=user.pts, kind=kind, date=self.now(), **values)
        user.log.append(event)
        return event

    def listeners(self, user_id: int, skip_conn: int | None = None) -> list[CallContext]:
        """The live connections of a user that take pushed updates. A connection whose queries
        came wrapped in invokeWithoutUpdates (Kurigram's ``no_updates=True``) asked for none,
        and Telegram sends it none."""
        found: list[CallContext] = []
        for key_id, conns in self.connections.items():
            auth = self.auths.get(key_id)
            if auth is None or auth.user_id != user_id:
                continue
            found.extend(
                ctx
                for cid, ctx in conns.items()
                if cid != skip_conn
                and ctx.sink is not None
                and not ctx.extra.get("without_updates")
            )
        return found

    def push(self, user_id: int, update: Any, *, skip_conn: int | None = None) -> int:
        """Send ``update`` to every live connection of the user but ``skip_conn``; returns how
        many connections got it. Telegram delivers to every session, the sender's included."""
        targets = self.listeners(user_id, skip_conn)
        for ctx in targets:
            assert ctx.sink is not None  # listeners() keeps only connections with a sink
            ctx.sink(update)
        return len(targets)

    def push_to_key(self, auth_key_id: int, update: Any) -> int:
        sent = 0
        for ctx in self.connections.get(auth_key_id, {}).values():
            if ctx.sink is not None:
                ctx.sink(update)
                sent += 1
        return sent
