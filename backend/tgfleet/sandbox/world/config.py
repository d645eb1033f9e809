"""help.*: the configuration a client asks for before anything else."""

from __future__ import annotations

from pyrogram.raw import functions, types

from tgfleet.sandbox.world.registry import route
from tgfleet.sandbox.world.state import Call, WorldState

CONFIG_TTL = 3600


@route(functions.help.GetConfig, login=False)
def get_config(st: WorldState, call: Call, q: functions.help.GetConfig) -> types.Config:
    now = st.now()
    # Every DC option points back at this server, so a client that follows a migration or
    # refreshes its DC table stays in the sandbox. Before the protocol side sets the address
    # the table is empty rather than pointing at a made-up port.
    dc_options = []
    if st.address is not None:
        host, port = st.address
        dc_options.append(types.DcOption(id=st.dc_id, ip_address=host, port=port, ipv6=":" in host))
    return types.Config(
        date=now,
        expires=now + CONFIG_TTL,
        test_mode=False,
        this_dc=st.dc_id,
        dc_options=dc_options,
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
        webfile_dc_id=st.dc_id,
    )


@route(functions.help.GetNearestDc, login=False)
def get_nearest_dc(st: WorldState, call: Call, q: functions.help.GetNearestDc) -> types.NearestDc:
    return types.NearestDc(country="XX", this_dc=st.dc_id, nearest_dc=st.dc_id)
