"""messages.setTyping: "typing…" and other chat actions, shown to the other side at once.

Like Telegram, these are not logged (no pts): a client that was away never learns of them.
"""

from __future__ import annotations

from typing import Any

from pyrogram.raw import functions, types

from tgfleet.sandbox.world import peers
from tgfleet.sandbox.world.registry import route
from tgfleet.sandbox.world.state import Call, WorldState


@route(functions.messages.SetTyping)
def set_typing(st: WorldState, call: Call, q: functions.messages.SetTyping) -> bool:
    me = call.me
    kind, peer_id = peers.input_peer(st, me, q.peer)
    update: Any
    if kind == "user":
        if peer_id == me.id:
            return True
        update = types.UpdateUserTyping(user_id=me.id, action=q.action)
        listeners = [peer_id]
    else:
        update = types.UpdateChatUserTyping(
            chat_id=peer_id, from_id=types.PeerUser(user_id=me.id), action=q.action
        )
        listeners = [uid for uid in st.chats[peer_id].members if uid != me.id]
    short = types.UpdateShort(update=update, date=st.now())
    for user_id in listeners:
        st.push(user_id, short)
    return True
