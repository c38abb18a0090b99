"""The gateway's limits, and the HUBWIRE_RT_* variables that set them (docs/realtime.md)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass
class GatewayConfig:
    """Limits; every one is documented in docs/realtime.md."""

    auth_timeout: float = 5.0
    max_sockets_per_member: int = 5
    max_subscriptions: int = 100
    max_frame_bytes: int = 16 * 1024
    ops_per_second: int = 20
    send_queue: int = 256
    typing_interval: float = 3.0
    typing_max_subscribers: int = 1000
    heartbeat: float = 20.0
    drain_timeout: float = 3.0
    max_replay: int = 500  # missed events a resume may send at once, beyond the send queue
    send_timeout: float = 10.0  # a send blocked this long (the peer stopped reading): close 4008
    close_timeout: float = 5.0  # how long a closing socket may take to get its last frames out
    # overload (realtime/overload.py): how far behind the instance may fall before it sheds
    shed_signals_after: float = 0.25  # lag (s): typing and presence frames are no longer delivered
    shed_sockets_after: float = 1.0  # lag (s): the slowest sockets are closed with 4008
    shed_fraction: float = 0.1  # share of the sockets closed per second while still that far behind
    coalesce_bytes: int = 64 * 1024  # queued frames written to one socket in one write, up to this
    socket_send_buffer: int = 64 * 1024  # the kernel's send buffer per WebSocket (0: the OS's autotuning)


# HUBWIRE_RT_* settings (read by Settings when the app is created; tests shorten them).
ENV_CONFIG = {
    "HUBWIRE_RT_AUTH_TIMEOUT": ("auth_timeout", float),
    "HUBWIRE_RT_MAX_SOCKETS": ("max_sockets_per_member", int),
    "HUBWIRE_RT_MAX_SUBSCRIPTIONS": ("max_subscriptions", int),
    "HUBWIRE_RT_MAX_FRAME": ("max_frame_bytes", int),
    "HUBWIRE_RT_OPS_PER_SECOND": ("ops_per_second", int),
    "HUBWIRE_RT_SEND_QUEUE": ("send_queue", int),
    "HUBWIRE_RT_TYPING_MAX_SUBSCRIBERS": ("typing_max_subscribers", int),
    "HUBWIRE_RT_SEND_TIMEOUT": ("send_timeout", float),
    "HUBWIRE_RT_CLOSE_TIMEOUT": ("close_timeout", float),
    "HUBWIRE_RT_MAX_REPLAY": ("max_replay", int),
    "HUBWIRE_RT_SHED_SIGNALS_AFTER": ("shed_signals_after", float),
    "HUBWIRE_RT_SHED_SOCKETS_AFTER": ("shed_sockets_after", float),
    "HUBWIRE_RT_SHED_FRACTION": ("shed_fraction", float),
    "HUBWIRE_RT_SOCKET_SNDBUF": ("socket_send_buffer", int),
}


def config_from_env(env: Mapping[str, str]) -> GatewayConfig:
    """The gateway's limits from the HUBWIRE_RT_* variables in ``env`` (``Settings.realtime``,
    which checked they are numbers); the defaults for the others."""
    cfg = GatewayConfig()
    for var, (name, cast) in ENV_CONFIG.items():
        if env.get(var):
            setattr(cfg, name, cast(env[var]))
    return cfg
