"""tgfleet.sandbox: a local MTProto 2.0 server with a small Telegram world, for loopback.

``async with open_sandbox() as sandbox:`` in-process; ``serve_sandbox(...)`` behind
``tgfleet sandbox``. The protocol half lives in this package's modules, the world in ``world/``,
and ``rpc.py`` is the seam between them.
"""

from __future__ import annotations

from tgfleet.sandbox.server import Sandbox, open_sandbox, serve_sandbox

__all__ = ["Sandbox", "open_sandbox", "serve_sandbox"]
