"""Creating users and bots: from a JSON seed file, from tests, or from an operator.

A seed file looks like::

    {"users": [{"phone": "+15550001", "first_name": "Alice", "username": "alice",
                "password": "hunter2", "hint": "the usual"}],
     "bots":  [{"token": "7000001:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw", "username": "echo_bot"}],
     "auto_sign_up": false}

``auto_sign_up`` (default false, as on Telegram) signs unknown numbers up on their first
auth.signIn, for unattended demos whose clients cannot answer a sign-up prompt.

Every problem is reported with its place in the file, so a typo is found without guessing.
"""

from __future__ import annotations

import re
from typing import Any

from tgfleet.sandbox.world.auth import BOT_TOKEN_RE, PHONE_RE
from tgfleet.sandbox.world.srp import PasswordRecord
from tgfleet.sandbox.world.state import SERVICE_USER_ID, User, WorldState, random_int63

USERNAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9_]{4,31}")


def add_service_user(st: WorldState) -> None:
    st.add_user(
        User(id=SERVICE_USER_ID, access_hash=random_int63(), first_name="Telegram", phone="42777")
    )


def _username(value: Any, where: str, *, bot: bool = False) -> str | None:
    if value is None:
        return None
    name = str(value).lstrip("@")
    if not USERNAME_RE.fullmatch(name):
        raise ValueError(f"{where}: username {value!r} must be 5-32 letters, digits or _")
    if bot and not name.lower().endswith("bot"):
        raise ValueError(f"{where}: a bot's username must end in 'bot', got {value!r}")
    return name


def create_user(
    st: WorldState,
    phone: str,
    first_name: str,
    last_name: str = "",
    *,
    username: str | None = None,
    password: str | None = None,
    hint: str = "",
    user_id: int | None = None,
    where: str = "user",
) -> User:
    digits = re.sub(r"[\s()+-]", "", phone)
    if not PHONE_RE.fullmatch(digits):
        raise ValueError(f"{where}: phone {phone!r} is not an international number")
    if st.user_by_phone(digits) is not None:
        raise ValueError(f"{where}: phone {phone!r} is already registered")
    if not first_name.strip():
        raise ValueError(f"{where}: first_name must not be empty")
    name = _username(username, where)
    if name is not None and st.user_by_username(name) is not None:
        raise ValueError(f"{where}: username @{name} is taken")
    if user_id is not None and user_id in st.users:
        raise ValueError(f"{where}: user id {user_id} is taken")
    return st.add_user(
        User(
            id=user_id if user_id is not None else st.allocate_user_id(),
            access_hash=random_int63(),
            first_name=first_name.strip(),
            last_name=last_name.strip(),
            username=name,
            phone=digits,
            password=PasswordRecord.create(password, hint) if password else None,
            created=st.now(),
        )
    )


def create_bot(
    st: WorldState,
    username: str,
    first_name: str = "",
    *,
    token: str | None = None,
    where: str = "bot",
) -> tuple[User, str]:
    """A bot and its token "<bot_id>:<secret>" (made up when not given)."""
    name = _username(username, where, bot=True)
    assert name is not None
    if st.user_by_username(name) is not None:
        raise ValueError(f"{where}: username @{name} is taken")
    if token is None:
        bot_id, secret = st.allocate_user_id(), random_int63().to_bytes(8, "big").hex()
        token = f"{bot_id}:{secret}"
    match = BOT_TOKEN_RE.fullmatch(token)
    if match is None:
        raise ValueError(f"{where}: token {token!r} must look like '<bot_id>:<secret>'")
    bot_id, secret = int(match.group(1)), match.group(2)
    if bot_id in st.users:
        raise ValueError(f"{where}: bot id {bot_id} of the token is taken")
    bot = st.add_user(
        User(
            id=bot_id,
            access_hash=random_int63(),
            first_name=first_name or name,
            username=name,
            bot=True,
            bot_secret=secret,
            created=st.now(),
        )
    )
    return bot, token


def apply_seed(st: WorldState, seed: dict[str, Any]) -> None:
    unknown = set(seed) - {"users", "bots", "auto_sign_up"}
    if unknown:
        raise ValueError(
            f"seed: unknown keys {sorted(unknown)}; expected 'users', 'bots', 'auto_sign_up'"
        )
    auto = seed.get("auto_sign_up", False)
    if not isinstance(auto, bool):
        raise ValueError(f"seed: auto_sign_up must be true or false, got {auto!r}")
    st.auto_sign_up = auto
    for i, entry in enumerate(seed.get("users", [])):
        where = f"seed users[{i}]"
        if not isinstance(entry, dict) or "phone" not in entry:
            raise ValueError(f"{where}: expected an object with at least 'phone'")
        create_user(
            st,
            str(entry["phone"]),
            str(entry.get("first_name") or f"User {str(entry['phone'])[-4:]}"),
            str(entry.get("last_name") or ""),
            username=entry.get("username"),
            password=entry.get("password"),
            hint=str(entry.get("hint") or ""),
            user_id=entry.get("id"),
            where=where,
        )
    for i, entry in enumerate(seed.get("bots", [])):
        where = f"seed bots[{i}]"
        if not isinstance(entry, dict) or "username" not in entry:
            raise ValueError(f"{where}: expected an object with at least 'username'")
        create_bot(
            st,
            str(entry["username"]),
            str(entry.get("first_name") or ""),
            token=entry.get("token"),
            where=where,
        )
