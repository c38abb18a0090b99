"""Routes: the realtime gateway's transports, presence and announcements (docs/realtime.md).

``H/ws`` (members), ``T/ws`` (staff and API keys with ``dashboard:read``), ``H/events`` (SSE),
``H/presence`` and ``T/hubs/{hub_id}/announcements``; and the lifespan that runs the gateway. The
connection logic lives in ``realtime/`` (``realtime.gateway``), the socket and SSE plumbing in
``transports.py`` beside this module.

Authentication of the WebSocket routes is done HERE, by hand: ``check_member_routes`` and
``check_team_routes`` in server/app.py only inspect HTTP handlers, so they cannot catch a socket
route that forgot to authenticate. Every socket is authenticated (token from the
``Sec-WebSocket-Protocol`` header or a first ``auth`` frame) before the gateway sees it.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from litestar import Litestar, Request, Response, WebSocket, get, post, websocket
from litestar.datastructures import State
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.response import Stream

from domain.errors import DomainError, Unauthenticated
from domain.hubs.announcements import announce
from domain.identity import api_keys, sessions
from domain.identity.api_keys import KEY_PREFIX
from domain.identity.members import authenticate_member
from domain.teams.service import resolve_team
from realtime import protocol as p
from realtime.access import ChannelAccess
from realtime.config import config_from_env
from realtime.wiring import build_gateway, drain_on_signals
from server.api.realtime.schemas import (
    AnnouncementsCreateDocument,
    AnnouncementsDocument,
    HubPresenceDocument,
    announcement_document,
    presence_document,
)
from server.api.realtime.transports import (
    CLOSE_FOR,
    event_stream,
    gateway_of,
    open_socket,
    refuse,
    refuse_unavailable,
    run_socket,
    socket_connection,
)
from server.deps import Context, Member, TeamCtx, TeamHub, services_of
from server.errors import is_database_unavailable
from server.jsonapi import jsonapi
from server.paths import HUB_PATH, TEAM_HUB_PATH, TEAM_PATH

DASHBOARD_SCOPE = "dashboard:read"


@asynccontextmanager
async def realtime_lifespan(app: Litestar) -> AsyncIterator[None]:
    """Run the gateway while the app runs: built on the app's broker (and Redis), started, drained
    on SIGTERM/SIGINT before uvicorn closes the sockets, and stopped with the app."""
    svc = services_of(app.state)
    access = ChannelAccess(svc.context)
    gateway, publisher = build_gateway(svc.broker, svc.redis, svc.settings.redis_prefix, access,
                                       config_from_env(svc.settings.realtime))
    app.state.realtime = gateway
    app.state.realtime_publisher = publisher
    svc.realtime_publish = publisher.publish  # Services.uow() now numbers and stores every event
    await gateway.start()
    restore = drain_on_signals(gateway)
    try:
        yield
    finally:
        restore()
        await gateway.stop()


LIFESPANS: list[Any] = [realtime_lifespan]


# Authentication in helpers of their own: the unit of work, its session and the principal are
# released when they return, instead of staying alive in the socket handler's frame for as long as
# the socket is open (several KB per idle socket; bench/README.md, "Memory per idle socket").
async def _member_of(svc: Any, token: str, hub_id: Any) -> Any:
    async with svc.context() as ctx:
        return await authenticate_member(ctx, token, hub_id, tokens=svc.auth.tokens)


async def _team_of(svc: Any, token: str, team_id: Any) -> Any:
    async with svc.context() as ctx:
        if token.startswith(KEY_PREFIX):
            principal: Any = await api_keys.authenticate_api_key(ctx, token)
        else:
            principal = await sessions.authenticate_access_token(ctx, token, tokens=svc.auth.tokens)
        return await resolve_team(ctx, principal, team_id, DASHBOARD_SCOPE)


@websocket(HUB_PATH + "/ws", name="hub_socket")
async def hub_socket(socket: WebSocket, hub_id: FromPath[str]) -> None:
    """A member's socket in one hub. Authenticated here, not by a dependency (see module doc)."""
    svc = services_of(socket.app.state)
    gateway = gateway_of(socket.app)
    token = await open_socket(socket, gateway.config.auth_timeout)
    if token is None:
        return
    try:
        if token.startswith(KEY_PREFIX):
            raise Unauthenticated("API keys cannot act as a member.", code="member_token_required")
        member = await _member_of(svc, token, _uuid(hub_id))
    except DomainError as exc:
        await refuse(socket, CLOSE_FOR.get(exc.kind, p.CLOSE_UNAUTHENTICATED), exc.code, str(exc))
        return
    except Exception as exc:
        if not is_database_unavailable(exc):
            raise
        await refuse_unavailable(socket, exc)
        return
    conn = socket_connection(socket, "member", gateway.config.socket_send_buffer)
    conn.hub_id, conn.contact_id, conn.team_id = member.hub_id, member.contact_id, member.team_id
    del member, token, svc
    await run_socket(socket, gateway, conn)


@websocket(TEAM_PATH + "/ws", name="team_socket")
async def team_socket(socket: WebSocket, team_id: FromPath[str]) -> None:
    """A staff dashboard's socket (a staff token or an API key with ``dashboard:read``).
    Authenticated here, not by a dependency (see module doc)."""
    svc = services_of(socket.app.state)
    gateway = gateway_of(socket.app)
    token = await open_socket(socket, gateway.config.auth_timeout)
    if token is None:
        return
    try:
        team = await _team_of(svc, token, _uuid(team_id))
    except DomainError as exc:
        await refuse(socket, CLOSE_FOR.get(exc.kind, p.CLOSE_UNAUTHENTICATED), exc.code, str(exc))
        return
    except Exception as exc:
        if not is_database_unavailable(exc):
            raise
        await refuse_unavailable(socket, exc)
        return
    conn = socket_connection(socket, "staff", gateway.config.socket_send_buffer)
    conn.team_id = team.team_id
    del team, token, svc
    await run_socket(socket, gateway, conn)


def _uuid(raw: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(raw)
    except ValueError:
        return None


@get(HUB_PATH + "/events", opt={"access": "view"}, media_type="text/event-stream",
     summary="Server-Sent Events: `?channels=hub:ID,contact:ID`, resume with `Last-Event-ID`")
async def hub_events(request: Request[Any, Any, Any], member: Member, state: State,
                     channels: FromQuery[str | None] = None) -> Stream:
    return event_stream(request, gateway_of(state), member, channels)


@get(HUB_PATH + "/presence", opt={"access": "view"}, summary="Who is online in the hub now (contact ids)")
async def hub_presence(member: Member, state: State) -> Response[HubPresenceDocument]:
    online = await gateway_of(state).presence.online(str(member.hub_id))
    return jsonapi(presence_document(member.hub_id, online))


@post(TEAM_HUB_PATH + "/announcements", opt={"scope": "hubs:write"}, tags=["realtime"],
      summary="Announce to a hub: `announcement.created` on `hub:{hub_id}` (after commit)")
async def create_announcement(data: JSONBody[AnnouncementsCreateDocument], team: TeamCtx, hub: TeamHub,
                              ctx: Context) -> Response[AnnouncementsDocument]:
    a = data.data.attributes
    ev = announce(ctx, hub, title=a.title, body=a.body)
    return jsonapi(announcement_document(ev), 201)


ROUTES: list[Any] = [hub_socket, team_socket, hub_events, hub_presence, create_announcement]
