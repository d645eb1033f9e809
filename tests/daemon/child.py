"""A daemon runtime in its own process, for tests that kill it: ``child.py CONFIG ACTION``.

ACTION ``login PHONE``: log PHONE in (keep_online), print ``READY``, then run until killed.
ACTION ``me PHONE``: wait for the pool to bring PHONE online from the stored authorization,
print ``{"user_id": ...}`` as JSON and exit.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from tgfleet.runtime import open_runtime
from tgfleet.settings import load_settings


async def main(config: str, action: str, phone: str) -> None:
    settings = load_settings(config_file=Path(config), env_file=None)
    async with open_runtime(settings) as runtime:
        if action == "login":
            flow = await runtime.logins.start_code_login(phone, keep_online=True)
            await runtime.logins.submit_code(flow.id, "12345")
            print("READY", flush=True)
            await asyncio.Event().wait()
        elif action == "me":
            async with runtime.pool.acquire(phone) as conn:
                me = await conn.client.call(lambda c: c.get_me())
            stats = runtime.pool.get_pool_stats(phone)
            print(json.dumps({"user_id": me.id, "pool": stats}, default=str), flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3]))
