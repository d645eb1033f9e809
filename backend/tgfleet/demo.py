"""The offline demo fleet: on the first start with ``--sandbox``, a live fleet to look at.

Three users and one bot are created in the embedded sandbox and logged in through the same
login flows an operator uses (the sandbox's code is known), two users stay online, and a few
messages give the dialogs something to show. It runs once: a data dir that already has
accounts is left as it is.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from tgfleet.errors import TgfleetError

if TYPE_CHECKING:
    from tgfleet.runtime import Runtime

log = logging.getLogger(__name__)

DEMO_USERS = (
    # phone, first name, username, label, keep_online
    ("+15550000001", "Alice", "demo_alice", "support desk", True),
    ("+15550000002", "Bob", "demo_bob", "community", True),
    ("+15550000003", "Carol", "demo_carol", "outreach", False),
)
DEMO_BOT = ("demo_fleet_bot", "Fleet Bot", "alerts bot")
# on the sandbox but not in tgfleet, with a two-step password: for trying the add-account wizard
DEMO_NEWCOMER = ("+15550000004", "Dave", "demo_dave", "tgfleet-demo")
DEMO_CHAT = (
    ("+15550000001", "demo_bob", "Morning Bob! Is the community digest out?"),
    ("+15550000002", "demo_alice", "Going out at noon, as usual."),
    ("+15550000003", "demo_alice", "Alice, can you forward me the outreach list?"),
)


async def seed_demo_fleet(runtime: Runtime) -> bool:
    """Create and log in the demo fleet if the store is empty; returns whether it did."""
    sandbox = runtime.sandbox
    if sandbox is None:
        raise TgfleetError("the demo fleet lives in the embedded sandbox: run with --sandbox")
    existing = await runtime.store.accounts.list(limit=1)
    if existing.items:
        return False
    world = sandbox.world
    for phone, first_name, username, _, _ in DEMO_USERS:
        if world.state.user_by_phone(phone.lstrip("+")) is None:
            world.add_user(phone, first_name, username=username)
    phone, first_name, username, password = DEMO_NEWCOMER
    if world.state.user_by_phone(phone.lstrip("+")) is None:
        world.add_user(phone, first_name, username=username)
        world.set_password(phone, password)
    for phone, _, _, label, keep_online in DEMO_USERS:
        flow = await runtime.logins.start_code_login(phone, label=label, keep_online=keep_online)
        await runtime.logins.submit_code(flow.id, sandbox.login_code)
    username, first_name, label = DEMO_BOT
    token = world.add_bot(username, first_name)
    await runtime.logins.login_bot(token, label=label)
    for phone, peer, text in DEMO_CHAT:
        await runtime.actions.send_message(phone, peer, text)
    log.info(
        "demo fleet ready: %d users and 1 bot on the sandbox (login code %s); "
        "%s is on the sandbox but not yet in tgfleet (two-step password %r): add it",
        len(DEMO_USERS),
        sandbox.login_code,
        DEMO_NEWCOMER[0],
        DEMO_NEWCOMER[3],
    )
    return True
