"""The seam between the sandbox's MTProto layer and its Telegram world.

The protocol side (transports, auth-key handshake, encrypted sessions, service messages) knows
nothing of users or chats; the world knows nothing of bytes on the wire. They meet here:

* the protocol side hands each decrypted API query to ``World.dispatch(ctx, query)`` after it
  has unwrapped ``invokeWithLayer``/``initConnection``/``invokeWithoutUpdates``/``invokeAfterMsg``
  (recording the layer and the device fields in ``ctx``);
* the world answers with a TL object, or raises ``RpcError`` which the protocol side sends as
  ``rpc_error``;
* the world pushes updates to a live connection through ``ctx.sink`` (or any sink it kept from
  ``World.attach``), and the protocol side wraps them as server-initiated messages.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


class RpcError(Exception):
    """An ``rpc_error`` to send back: ``RpcError(400, "PHONE_CODE_INVALID")``."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"{code} {message}")
        self.code = code
        self.message = message


class UpdateSink(Protocol):
    """Where the world sends a server-initiated TL object (an ``Updates`` value) for one
    connection. Sending never blocks; a dead connection drops it."""

    def __call__(self, update: Any) -> None: ...


@dataclass
class CallContext:
    """Who is calling: one per connection and auth key, kept by the protocol side."""

    auth_key_id: int  # signed 64-bit id of the auth key, as on the wire
    conn_id: int  # unique per TCP connection for the life of the server
    session_id: int = 0
    layer: int | None = None
    device_model: str = ""
    system_version: str = ""
    app_version: str = ""
    api_id: int = 0
    lang_code: str = ""
    peer: str = ""  # "host:port" of the client, for account.getAuthorizations
    sink: UpdateSink | None = None
    extra: dict[str, Any] = field(default_factory=dict)
