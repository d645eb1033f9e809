"""A deliberately tiny world for the protocol tests, used until the real World lands.

It answers help.getConfig, auth.sendCode/auth.signIn (any phone, the login code), users.getUsers
(self) and updates.getState, and refuses everything else with a clear 400 — enough to drive a
real Kurigram client through a login over the real protocol stack.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from pyrogram import raw

from tgfleet.sandbox.rpc import CallContext, RpcError


class StandInWorld:
    def __init__(self, login_code: str = "12345", dc_id: int = 2) -> None:
        self.login_code = login_code
        self.dc_id = dc_id
        self.counters: Counter[str] = Counter()
        self.keys: dict[int, bytes] = {}
        self.key_phone: dict[int, str] = {}
        self.user_ids: dict[str, int] = {}
        self.revoked: set[int] = set()
        self.banned: set[str] = set()
        self.attached: dict[int, CallContext] = {}
        self.calls: list[tuple[int, str]] = []
        self.host = "127.0.0.1"
        self.port = 0

    # --- the interface the protocol side uses ---------------------------------------------

    def register_auth_key(self, auth_key_id: int, auth_key: bytes) -> None:
        self.keys[auth_key_id] = auth_key

    def auth_key(self, auth_key_id: int) -> bytes | None:
        return self.keys.get(auth_key_id)

    def attach(self, ctx: CallContext) -> None:
        self.attached[ctx.conn_id] = ctx

    def detach(self, ctx: CallContext) -> None:
        self.attached.pop(ctx.conn_id, None)

    def phone_of(self, auth_key_id: int) -> str | None:
        return self.key_phone.get(auth_key_id)

    def revoke_authorization(self, auth_key_id: int) -> None:
        self.revoked.add(auth_key_id)

    def ban_user(self, phone: str) -> None:
        self.banned.add(phone)

    def _fail(self, code: int, message: str) -> RpcError:
        self.counters[message] += 1
        return RpcError(code, message)

    async def dispatch(self, ctx: CallContext, query: Any) -> Any:
        self.calls.append((ctx.auth_key_id, type(query).__name__))
        if ctx.auth_key_id in self.revoked:
            raise self._fail(401, "AUTH_KEY_UNREGISTERED")
        phone = self.key_phone.get(ctx.auth_key_id)
        if phone in self.banned:
            raise self._fail(401, "USER_DEACTIVATED_BAN")
        f = raw.functions
        if isinstance(query, f.help.GetConfig):
            return self._config()
        if isinstance(query, f.auth.SendCode):
            return raw.types.auth.SentCode(
                type=raw.types.auth.SentCodeTypeApp(length=len(self.login_code)),
                phone_code_hash="standin",
            )
        if isinstance(query, f.auth.SignIn):
            if query.phone_code != self.login_code:
                raise self._fail(400, "PHONE_CODE_INVALID")
            self.key_phone[ctx.auth_key_id] = query.phone_number
            user_id = self.user_ids.setdefault(query.phone_number, 1000 + len(self.user_ids))
            return raw.types.auth.Authorization(user=self._user(query.phone_number, user_id))
        if isinstance(query, f.users.GetUsers):
            if phone is None:
                raise self._fail(401, "AUTH_KEY_UNREGISTERED")
            return [self._user(phone, self.user_ids[phone])]
        if isinstance(query, f.updates.GetState):
            return raw.types.updates.State(
                pts=1, qts=0, date=int(time.time()), seq=1, unread_count=0
            )
        raise self._fail(400, f"METHOD_NOT_IN_STANDIN_{type(query).__name__.upper()}")

    # --- helpers --------------------------------------------------------------------------

    @staticmethod
    def _user(phone: str, user_id: int) -> Any:
        return raw.types.User(
            id=user_id,
            is_self=True,
            access_hash=user_id * 7,
            first_name=f"User{phone[-4:]}",
            phone=phone,
        )

    def _config(self) -> Any:
        now = int(time.time())
        return raw.types.Config(
            date=now,
            expires=now + 3600,
            test_mode=False,
            this_dc=self.dc_id,
            dc_options=[raw.types.DcOption(id=self.dc_id, ip_address=self.host, port=self.port)],
            dc_txt_domain_name="sandbox.invalid",
            chat_size_max=200,
            megagroup_size_max=200000,
            forwarded_count_max=100,
            online_update_period_ms=210000,
            offline_blur_timeout_ms=5000,
            offline_idle_timeout_ms=30000,
            online_cloud_timeout_ms=300000,
            notify_cloud_delay_ms=30000,
            notify_default_delay_ms=1500,
            push_chat_period_ms=60000,
            push_chat_limit=2,
            edit_time_limit=172800,
            revoke_time_limit=2147483647,
            revoke_pm_time_limit=2147483647,
            rating_e_decay=2419200,
            stickers_recent_limit=200,
            channels_read_media_period=604800,
            call_receive_timeout_ms=20000,
            call_ring_timeout_ms=90000,
            call_connect_timeout_ms=30000,
            call_packet_timeout_ms=10000,
            me_url_prefix="https://t.me/",
            caption_length_max=1024,
            message_length_max=4096,
            webfile_dc_id=self.dc_id,
        )
