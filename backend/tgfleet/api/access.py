"""Access to the API: passwords, browser sessions with CSRF tokens, API tokens, sign-in limits.

Decisions kept here, in one place:

- Passwords are argon2 hashes (argon2-cffi defaults). Checking one costs tens of milliseconds
  of CPU, so it runs in a worker thread, and an unknown username is checked against a dummy
  hash so that the answer time does not tell which usernames exist.
- Session tokens and API tokens are 256-bit random strings; the store keeps only their SHA-256.
  (A fast hash is right for random tokens: there is nothing to guess.)
- The CSRF token is derived from the session token (``csrf_for``), sent in a readable cookie,
  and must come back in the ``X-CSRF-Token`` header of every unsafe request made with the
  session cookie. A forged cross-site request carries the cookies but cannot read them.
- Failed sign-ins are counted per (username, client address) in memory: after
  ``max_failures`` within ``window`` seconds that pair waits until the oldest failure ages out.
- The owner of an API token is remembered for ``TOKEN_TTL`` seconds (``TokenCache``): the
  lookup is a database round trip through a worker thread, ~0.3 ms of CPU, the largest cost
  of a script's request (bench/api_bench.py). Revocation still bites at the next request: a
  revocation through ``Access`` drops the cache, and writes the marker file whose change
  every process's cache sees (``tgfleet tokens revoke`` runs in another process); the TTL
  bounds what any other path (an edited database, a second daemon) could leave behind.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import secrets
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from tgfleet.errors import InvalidInput, NotAuthenticated, TooManyAttempts
from tgfleet.store.users import ApiToken, User, UsersStore

ADMIN_USERNAME = "admin"
API_TOKEN_PREFIX = "tgf_"
SESSION_COOKIE = "tgfleet_session"
CSRF_COOKIE = "tgfleet_csrf"
CSRF_HEADER = "X-CSRF-Token"
SESSION_TTL = 7 * 86_400.0
TOKEN_TTL = 1.0
TOKEN_USE_RESOLUTION = 60.0  # seconds: a token's last_used_at is that precise
# in the data dir, next to the database: rewritten on every revocation
REVOCATION_MARKER = "api_tokens.revoked"


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def csrf_for(session_token: str) -> str:
    return hashlib.sha256(b"tgfleet-csrf:" + session_token.encode()).hexdigest()


def csrf_matches(session_token: str, cookie: str | None, header: str | None) -> bool:
    if not cookie or not header:
        return False
    expected = csrf_for(session_token)
    return hmac.compare_digest(cookie, expected) and hmac.compare_digest(header, expected)


class SignInLimiter:
    """Failed sign-ins per (username, client) in a sliding window."""

    def __init__(
        self,
        max_failures: int = 5,
        window: float = 300.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 10_000,
    ) -> None:
        self.max_failures = max_failures
        self.window = window
        self._clock = clock
        self._max_keys = max_keys
        self._failures: dict[tuple[str, str], deque[float]] = {}

    def _recent(self, key: tuple[str, str]) -> deque[float]:
        now = self._clock()
        failures = self._failures.get(key)
        if failures is None:
            return deque()
        while failures and failures[0] <= now - self.window:
            failures.popleft()
        if not failures:
            del self._failures[key]
        return failures

    def check(self, username: str, client: str) -> None:
        """Raise TooManyAttempts while the pair is locked out."""
        failures = self._recent((username, client))
        if len(failures) >= self.max_failures:
            retry_after = failures[0] + self.window - self._clock()
            raise TooManyAttempts(
                f"too many failed sign-ins for {username!r} from this address; "
                f"try again in {max(1, round(retry_after))} s",
                retry_after=retry_after,
            )

    def failed(self, username: str, client: str) -> None:
        if len(self._failures) >= self._max_keys:
            # bounded memory under a spray of usernames: forget the oldest pair
            self._failures.pop(next(iter(self._failures)))
        self._failures.setdefault((username, client), deque()).append(self._clock())

    def succeeded(self, username: str, client: str) -> None:
        self._failures.pop((username, client), None)


class TokenCache:
    """Owners of API tokens looked up lately, by token hash; see the module's docstring."""

    def __init__(
        self,
        marker: Path | None,
        *,
        ttl: float = TOKEN_TTL,
        clock: Callable[[], float] = time.monotonic,
        max_entries: int = 1024,
    ) -> None:
        if ttl < 0:
            raise ValueError(f"ttl must be >= 0 seconds, got {ttl}")
        self.marker = marker
        self.ttl = ttl
        self._clock = clock
        self._max_entries = max_entries
        self._users: dict[str, tuple[User, float]] = {}
        self._seen = self._marker_state()

    def _marker_state(self) -> tuple[int, int, int] | None:
        if self.marker is None:
            return None
        try:
            st = os.stat(self.marker)
        except FileNotFoundError:
            return None
        # a rewrite is a new file (os.replace): a new inode and a new mtime
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def get(self, hashed: str) -> User | None:
        state = self._marker_state()  # one stat(2), about a microsecond
        if state != self._seen:
            self._seen = state
            self._users.clear()
            return None
        found = self._users.get(hashed)
        if found is None:
            return None
        user, expires = found
        if self._clock() >= expires:
            del self._users[hashed]
            return None
        return user

    def put(self, hashed: str, user: User) -> None:
        if len(self._users) >= self._max_entries:
            self._users.clear()  # a flood of distinct tokens: start over rather than grow
        self._users[hashed] = (user, self._clock() + self.ttl)

    def revoked(self) -> None:
        """A token was revoked: forget them all, here and (through the marker) elsewhere."""
        self._users.clear()
        if self.marker is not None:
            tmp = self.marker.with_name(f"{self.marker.name}.{os.getpid()}.tmp")
            tmp.write_text(secrets.token_hex(8))
            os.replace(tmp, self.marker)
        self._seen = self._marker_state()


@dataclass(frozen=True, slots=True)
class SignedIn:
    user: User
    session_token: str
    csrf_token: str
    expires_at: float


class Access:
    def __init__(
        self,
        users: UsersStore,
        *,
        hasher: PasswordHasher | None = None,
        limiter: SignInLimiter | None = None,
        session_ttl: float = SESSION_TTL,
        revocation_marker: Path | None = None,
        token_cache: TokenCache | None = None,
    ) -> None:
        self.users = users
        self._hasher = hasher or PasswordHasher()
        self.limiter = limiter or SignInLimiter()
        self.session_ttl = session_ttl
        self.tokens = token_cache or TokenCache(revocation_marker)
        self._last_noted: dict[str, float] = {}
        self._dummy_hash = self._hasher.hash(new_secret())

    async def ensure_admin(self, password: str | None) -> str | None:
        """Create the first user, ``admin``, if there is no user yet.

        Its password is ``password`` (TGFLEET_ADMIN_PASSWORD) or, if that is None, a generated
        one, which is returned so that the caller shows it once. Returns None when nothing was
        generated (the admin existed already, or the password was given).
        """
        if await self.users.count() > 0:
            return None
        generated = None
        if password is None:
            generated = password = new_secret()
        hashed = await asyncio.to_thread(self._hasher.hash, password)
        await self.users.create(ADMIN_USERNAME, hashed)
        return generated

    async def sign_in(self, username: str, password: str, client: str) -> SignedIn:
        self.limiter.check(username, client)
        found = await self.users.find_with_hash(username)
        stored = self._dummy_hash if found is None else found[1]
        ok = await asyncio.to_thread(self._verify, stored, password)
        if found is None or not ok:
            self.limiter.failed(username, client)
            raise NotAuthenticated("wrong username or password")
        self.limiter.succeeded(username, client)
        user = found[0]
        if self._hasher.check_needs_rehash(stored):
            await self.users.set_password_hash(
                user.id, await asyncio.to_thread(self._hasher.hash, password)
            )
        session = new_secret()
        expires_at = time.time() + self.session_ttl
        await self.users.create_session(user.id, token_hash(session), expires_at)
        return SignedIn(user, session, csrf_for(session), expires_at)

    def _verify(self, stored: str, password: str) -> bool:
        try:
            return self._hasher.verify(stored, password)
        except (VerificationError, InvalidHashError):
            return False

    async def sign_out(self, session_token: str) -> None:
        await self.users.delete_session(token_hash(session_token))

    async def user_for_session(self, session_token: str) -> User | None:
        return await self.users.user_for_session(token_hash(session_token))

    async def user_for_api_token(self, token: str) -> User | None:
        if not token.startswith(API_TOKEN_PREFIX):
            return None
        hashed = token_hash(token)
        user = self.tokens.get(hashed)
        if user is None:
            # unknown tokens are not remembered: one made a moment ago must work at once
            user = await self.users.user_for_token(hashed)
            if user is not None:
                self.tokens.put(hashed, user)
        if user is not None:
            await self._note_use(hashed)
        return user

    async def _note_use(self, hashed: str) -> None:
        """Keep a token's last use for the operator (which tokens are still in use?), written
        at most once a minute per token so a busy script does not become a stream of writes."""
        now = time.monotonic()
        if now - self._last_noted.get(hashed, -TOKEN_USE_RESOLUTION) < TOKEN_USE_RESOLUTION:
            return
        self._last_noted[hashed] = now
        await self.users.touch_token(hashed)

    async def revoke_api_token(self, name: str) -> ApiToken | None:
        """Revoke the live token named ``name`` (None if there is none); it stops working at
        its next request, in this process and in a daemon running beside this one."""
        revoked = await self.users.revoke_token(name)
        if revoked is not None:
            self.tokens.revoked()
        return revoked

    async def create_api_token(
        self, name: str, *, username: str = ADMIN_USERNAME
    ) -> tuple[ApiToken, str]:
        """A new token for ``username``; the plain token is returned once and never stored."""
        user = await self.users.get_by_name(username)
        if user is None:
            raise InvalidInput(f"username: no user named {username!r}")
        plain = API_TOKEN_PREFIX + new_secret()
        record = await self.users.create_token(user.id, name, token_hash(plain))
        return record, plain
