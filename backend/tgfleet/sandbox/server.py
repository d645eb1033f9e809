"""The sandbox server: a TCP listener over a :class:`Hub`, in-process or as a command.

``async with open_sandbox(...) as sandbox:`` for tests; ``serve_sandbox(...)`` for
``tgfleet sandbox``. ``await sandbox.restart()`` closes the listener and every connection and
listens again on the same port; the world, keys, salts and sessions stay.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from tgfleet.sandbox.faults import Faults
from tgfleet.sandbox.hub import Hub, WorldLike
from tgfleet.sandbox.keys import load_or_create_key
from tgfleet.sandbox.sessions import SaltBook

log = logging.getLogger(__name__)

SECRET_FILE = "sandbox_salt_secret"
WORLD_FILE = "world.json"
INFO_FILE = "sandbox.json"


class Sandbox:
    """A running sandbox: where it listens, how to reach it, its world, faults and counters."""

    def __init__(
        self,
        hub: Hub,
        *,
        host: str,
        port: int,
        login_code: str,
        state_dir: Path | None,
    ) -> None:
        self.hub = hub
        self.host = host
        self.port = port
        self.login_code = login_code
        self.state_dir = state_dir
        self.faults = Faults(hub)
        hub.faults = self.faults
        self._server: asyncio.Server | None = None

    # --- what clients need ------------------------------------------------------------------

    @property
    def dc_id(self) -> int:
        return self.hub.dc_id

    @property
    def world(self) -> WorldLike:
        return self.hub.world

    @property
    def rsa_public_key_pem(self) -> str:
        return self.hub.key.public_pem

    @property
    def rsa_fingerprint(self) -> int:
        return self.hub.key.fingerprint

    @property
    def counters(self) -> Counter[str]:
        """Protocol counters (handshakes, connections, rpcs, AUTH_KEY_DUPLICATED,
        AUTH_KEY_UNKNOWN, FLOOD_WAIT, refused, dropped, ...) plus the world's rpc-error counts
        (AUTH_KEY_UNREGISTERED, USER_DEACTIVATED_BAN, ...). A fresh copy on every read."""
        merged = Counter(self.hub.counters)
        merged.update(self.hub.world.counters)
        return merged

    def info(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "port": self.port,
            "dc_id": self.dc_id,
            "rsa_public_key_pem": self.rsa_public_key_pem,
            "rsa_fingerprint": self.rsa_fingerprint,
            "login_code": self.login_code,
        }

    def connections(self) -> list[dict[str, Any]]:
        return [
            {
                "conn_id": c.conn_id,
                "peer": c.peer,
                "transport": c.transport_name,
                "auth_key_id": c.auth_key_id,
                "phone": None if c.auth_key_id is None else self.world.phone_of(c.auth_key_id),
            }
            for c in self.hub.connections.values()
        ]

    def __repr__(self) -> str:
        state = "serving" if self._server is not None else "stopped"
        return (
            f"<Sandbox {self.host}:{self.port} {state} connections={len(self.hub.connections)} "
            f"handshakes={self.hub.counters['handshakes']} rpcs={self.hub.counters['rpcs']}>"
        )

    # --- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        if self._server is not None:
            raise RuntimeError("the sandbox is already serving")
        from tgfleet.sandbox.connection import SandboxConnection

        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: SandboxConnection(self.hub),
            self.host,
            self.port,
            reuse_address=True,
        )
        sock = self._server.sockets[0]
        self.port = sock.getsockname()[1]
        if hasattr(self.hub.world, "address"):
            # help.getConfig points every DC option here, so the world must know the port.
            self.hub.world.address = (self.host, self.port)
        log.info("sandbox listening on %s:%s", self.host, self.port)

    async def stop(self) -> None:
        """Stop listening and drop every connection; the world stays as it is."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for conn in list(self.hub.connections.values()):
            conn.abort("sandbox stopped")
        if server is not None:
            await server.wait_closed()
        self._save_world()

    async def restart(self) -> None:
        """Stop and listen again on the same port, world intact."""
        await self.stop()
        await self.start()

    def _save_world(self) -> None:
        snapshot = getattr(self.hub.world, "snapshot", None)
        if self.state_dir is None or snapshot is None:
            return
        path = self.state_dir / WORLD_FILE
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(snapshot()))
        tmp.replace(path)


def _salt_secret(state_dir: Path | None) -> bytes | None:
    if state_dir is None:
        return None
    path = state_dir / SECRET_FILE
    if path.exists():
        return path.read_bytes()
    secret = os.urandom(32)
    path.write_bytes(secret)
    path.chmod(0o600)
    return secret


def _make_world(state_dir: Path | None, login_code: str, dc_id: int, seed: Any) -> WorldLike:
    from tgfleet.sandbox.world import World  # the world half; imported late on purpose

    saved = None if state_dir is None else state_dir / WORLD_FILE
    if saved is not None and saved.exists() and hasattr(World, "restore"):
        # The saved world, answering with the login code this start was given.
        world: WorldLike = World.restore(json.loads(saved.read_text()), login_code=login_code)
        return world
    world = World(login_code=login_code, dc_id=dc_id, seed=seed)
    return world


@asynccontextmanager
async def open_sandbox(
    host: str = "127.0.0.1",
    port: int = 0,
    state_dir: str | Path | None = None,
    login_code: str = "12345",
    seed: Any = None,
    *,
    dc_id: int = 2,
    world: WorldLike | None = None,
    insecure_fast_handshake: bool = False,
) -> AsyncIterator[Sandbox]:
    """Run a sandbox for the duration of the block.

    ``state_dir`` keeps the RSA key, the salt secret and (on stop) the world's snapshot;
    without it everything is fresh and in memory. ``world`` replaces the default
    ``World(login_code, dc_id, seed)``. ``insecure_fast_handshake`` makes auth-key creation
    cheap for tests and benchmarks (see :class:`~tgfleet.sandbox.handshake.Handshaker`).
    """
    state = None if state_dir is None else Path(state_dir)
    if state is not None:
        state.mkdir(parents=True, exist_ok=True)
    key = await asyncio.to_thread(load_or_create_key, state)
    if world is None:
        world = _make_world(state, login_code, dc_id, seed)
    hub = Hub(
        world=world,
        key=key,
        dc_id=dc_id,
        insecure_fast_handshake=insecure_fast_handshake,
        salts=SaltBook(_salt_secret(state)),
    )
    code = str(getattr(world, "login_code", login_code))  # what the world really sends
    sandbox = Sandbox(hub, host=host, port=port, login_code=code, state_dir=state)
    await sandbox.start()
    try:
        yield sandbox
    finally:
        await sandbox.stop()


async def serve_sandbox(
    host: str,
    port: int,
    state_dir: str | Path,
    login_code: str = "12345",
    seed_file: str | Path | None = None,
    *,
    admin_port: int | None = 0,
) -> None:
    """Serve until cancelled: write ``DIR/sandbox.json``, print the same JSON line.

    With ``admin_port`` (not None) a loopback admin endpoint for the faults also listens; its
    port is added to the JSON as ``admin_port`` (see :mod:`tgfleet.sandbox.admin`).
    """
    from tgfleet.sandbox.admin import open_admin_endpoint

    seed = None
    if seed_file is not None:
        seed = json.loads(await asyncio.to_thread(Path(seed_file).read_text))
    state = Path(state_dir)
    async with open_sandbox(host, port, state, login_code, seed) as sandbox:
        info = sandbox.info()
        if admin_port is not None:
            admin = await open_admin_endpoint(sandbox, "127.0.0.1", admin_port)
            info["admin_port"] = admin.sockets[0].getsockname()[1]
        else:
            admin = None
        path = state / INFO_FILE
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(info, indent=2))
        tmp.replace(path)
        print(json.dumps(info), flush=True)
        try:
            await asyncio.Event().wait()
        finally:
            if admin is not None:
                admin.close()
                await admin.wait_closed()
