"""The ``hubwire`` command: serve, migrate, worker, create-user, demo."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import os
import secrets
import sys
from typing import Any

from server.settings import Settings, SettingsError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hubwire", description="Hubwire membership server")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the HTTP server (migrations applied on start by default)")
    serve.add_argument("--host", help="default: HUBWIRE_HOST, else 127.0.0.1")
    serve.add_argument("--port", type=int, help="default: HUBWIRE_PORT, else 8000")
    serve.add_argument("--workers", type=int, default=1)

    sub.add_parser("migrate", help="apply database migrations and exit")

    worker = sub.add_parser("worker", help="run the background jobs (the email outbox, payment-provider events) "
                                           "without the HTTP server")
    worker.add_argument("--once", action="store_true", help="send and apply what is due now, then exit")

    cu = sub.add_parser("create-user", help="create a staff user (and their personal team)")
    cu.add_argument("--email", required=True)
    cu.add_argument("--password", help="read from HUBWIRE_NEW_PASSWORD or prompted when omitted")
    cu.add_argument("--first-name")
    cu.add_argument("--last-name")

    sub.add_parser("demo", help="seed a demo team and staff login, and print how to log in")

    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(f"hubwire: configuration error: {exc}", file=sys.stderr)
        return 2

    if args.command == "serve":
        if args.host is not None or args.port is not None:
            # The app factory reads its settings from the environment in the server process (and
            # in every worker process): hand it the address given here, so that the default
            # public URL (links in emails) names the port the server really listens on.
            os.environ["HUBWIRE_HOST"] = args.host if args.host is not None else settings.host
            os.environ["HUBWIRE_PORT"] = str(args.port if args.port is not None else settings.port)
            try:
                settings = Settings.from_env()
            except SettingsError as exc:
                print(f"hubwire: configuration error: {exc}", file=sys.stderr)
                return 2
        return _serve(settings, args.workers)
    if args.command == "migrate":
        asyncio.run(_migrate(settings))
        print("migrations applied")
        return 0
    if args.command == "worker":
        return asyncio.run(_worker(settings, once=args.once))
    if args.command == "create-user":
        password = args.password or os.environ.get("HUBWIRE_NEW_PASSWORD") or getpass.getpass("Password: ")
        return asyncio.run(_create_user(settings, args.email, password, args.first_name, args.last_name))
    if args.command == "demo":
        return asyncio.run(_demo(settings))
    return 2


def _serve(settings: Settings, workers: int) -> int:
    import uvicorn

    if workers < 1:
        print("hubwire: --workers must be at least 1", file=sys.stderr)
        return 2
    if workers > 1 and not settings.redis_url:
        # Each worker is a process of its own: without Redis each would keep its own sockets'
        # events, presence and rate limits, and a member would see only what their worker saw.
        print("hubwire: --workers above 1 needs HUBWIRE_REDIS_URL: the workers share live events, presence "
              "and rate limits through Redis (docs/deploy.md)", file=sys.stderr)
        return 2
    from server.logs import uvicorn_log_config

    if workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # Every worker keeps its metrics in files here, and a scrape answered by any of them adds
        # them all up (server/metrics.py). Emptied at each start: counts begin again at zero.
        _fresh_metrics_dir(settings.data_dir / "metrics")

    print(f"Hubwire on http://{settings.host}:{settings.port}  (database: {_describe_db(settings)}, "
          f"broker: {'redis' if settings.redis_url else 'in-process'}, data dir: {settings.data_dir}, "
          f"links: {settings.public_url})", flush=True)
    uvicorn.run(
        "server.app:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=workers,
        log_level=settings.log_level.lower(),
        # uvicorn's lines in the app's format; its access log is replaced by the app's request
        # lines (server/logs.py)
        log_config=uvicorn_log_config(settings.log_format, settings.log_level),
        access_log=False,
        proxy_headers=False,  # client addresses come from HUBWIRE_TRUSTED_PROXIES, see server/net.py
        timeout_graceful_shutdown=10,
        # Each event is encoded once and the same bytes go to every socket; per-message deflate
        # would compress it again for each socket (bench/fanout: about 2x the CPU per delivery
        # and 2x the memory per idle connection). Clients that offer it are simply declined.
        ws_per_message_deflate=False,
    )
    return 0


def _fresh_metrics_dir(path: Any) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True, exist_ok=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(path)


def _describe_db(settings: Settings) -> str:
    if settings.is_sqlite:
        return "sqlite " + settings.database_url.split(":///", 1)[-1]
    return "postgresql"


async def _with_services(settings: Settings, fn: Any) -> Any:
    from persistence import migrate
    from server.services import build_services

    services = build_services(settings)
    try:
        await migrate.upgrade(services.engine)
        return await fn(services)
    finally:
        await services.engine.dispose()


async def _migrate(settings: Settings) -> None:
    async def noop(_: Any) -> None:
        return None

    await _with_services(settings, noop)


async def _worker(settings: Settings, *, once: bool) -> int:
    """The email worker and the provider-event worker alone (``serve`` also runs them in-process;
    both build them in server/jobs.py). Stops on SIGINT/SIGTERM after the message or event in flight."""
    import signal

    from server.jobs import email_worker_for, provider_event_worker_for

    async def run(svc: Any) -> int:
        worker = email_worker_for(svc)
        events = provider_event_worker_for(svc)
        await svc.broker.start()  # what the event handlers publish goes out through it
        try:
            if once:
                report = await worker.run_once()
                print(f"claimed {report.claimed}: sent {report.sent}, retried {report.retried}, failed {report.failed}")
                applied = await events.run_once()
                print(f"provider events: claimed {applied.claimed}: processed {applied.processed}, "
                      f"ignored {applied.ignored}, retried {applied.retried}, failed {applied.failed}")
                return 0
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            print(f"hubwire worker running (database: {_describe_db(settings)}, "
                  f"email: {'smtp ' + settings.smtp_host if settings.smtp_host else 'eml files in ' + str(settings.data_dir / 'outbox')}, "
                  "payment-provider events)", flush=True)
            await worker.start()
            await events.start()
            try:
                await stop.wait()
            finally:
                await events.stop()
                await worker.stop()
            return 0
        finally:
            if svc.stripe is not None:
                await svc.stripe.aclose()
            await svc.broker.stop()

    return int(await _with_services(settings, run))


async def _create_user(settings: Settings, email: str, password: str, first: str | None, last: str | None) -> int:
    from domain.errors import DomainError
    from domain.identity import sessions

    async def run(svc: Any) -> int:
        try:
            async with svc.context() as ctx:
                user = await sessions.create_user(ctx, email=email, password=password, first_name=first,
                                                  last_name=last, auth=svc.auth)
        except DomainError as exc:
            print(f"hubwire: {exc.detail} ({exc.code})", file=sys.stderr)
            return 1
        print(f"created staff user {user.email} ({user.id})")
        return 0

    return int(await _with_services(settings, run))


async def _demo(settings: Settings) -> int:
    """Seed once (a staff login, its team, a hub with a few member contacts); later runs print the
    same login again."""
    creds_path = settings.data_dir / "demo-credentials.json"

    async def run(svc: Any) -> int:
        if creds_path.exists():
            creds = json.loads(creds_path.read_text())
        else:
            creds = {"email": "demo@hubwire.local", "password": secrets.token_urlsafe(12)}
            async with svc.context() as ctx:
                creds.update(await _seed_demo(ctx, svc, creds["email"], creds["password"]))
            settings.data_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(creds_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as fh:
                json.dump(creds, fh)
        base = settings.public_url
        async with svc.context() as ctx:
            links = await _demo_member_links(ctx, svc, creds)
        print("Demo data is ready.")
        print(f"  staff login: {creds['email']} / {creds['password']}")
        print(f"  team:        {creds.get('team_id')}   hub: {creds.get('hub_id')} (\"Demo Community\")")
        print(f"  staff app:   {base}/   (sign in with the staff login: dashboard, hubs, moderation)")
        print(f"  member app:  {base}/hubs/demo")
        for name, link in links:
            print(f"  sign in as {name + ':':<7}{link}")
        print("               (each link works once, within 24 hours; run `hubwire demo` again for new ones)")
        print(f"  log in:      curl -s -X POST {base}/api/v1/auth/login -H 'Content-Type: application/json' \\")
        print(f"                 -d '{{\"email\": \"{creds['email']}\", \"password\": \"{creds['password']}\"}}'")
        print(f"  API docs:    {base}/schema/swagger")
        return 0

    return int(await _with_services(settings, run))


DEMO_MEMBERS = (("Ada", "ada@example.com"), ("Grace", "grace@example.com"))
DEMO_LINK_TTL_HOURS = 24


async def _demo_member_links(ctx: Any, svc: Any, creds: dict[str, Any]) -> list[tuple[str, str]]:
    """A fresh sign-in link to the demo hub for each demo member (a magic link, single use)."""
    from datetime import timedelta

    import sqlalchemy as sa

    from domain.members.links import sign_in_link
    from persistence.ids import parse_id
    from persistence.models import Contact, Hub

    uow = ctx.uow
    hub = await uow.session.get(Hub, parse_id(str(creds.get("hub_id"))))
    if hub is None or hub.deleted_at is not None:
        return []
    links = []
    for name, email in DEMO_MEMBERS:
        contact_id = await uow.session.scalar(sa.select(Contact.id).where(Contact.email == email))
        if contact_id is not None:
            links.append((name, await sign_in_link(ctx, hub, contact_id, public_url=svc.settings.public_url,
                                                   ttl=timedelta(hours=DEMO_LINK_TTL_HOURS))))
    return links


async def _seed_demo(ctx: Any, svc: Any, email: str, password: str) -> dict[str, str]:
    """A staff user with their personal team, a hub, and a few contacts who are its members."""
    import uuid

    from domain.community.spaces import create_space
    from domain.crm.contacts import upsert_team_contact
    from domain.hubs.memberships import add_membership
    from domain.hubs.service import create_hub
    from domain.identity import sessions
    from domain.identity.principals import StaffPrincipal
    from domain.teams.service import list_teams, resolve_team
    from persistence.pagination import PageRequest

    user = await sessions.create_user(ctx, email=email, password=password, first_name="Demo",
                                      last_name="Creator", auth=svc.auth)
    staff = StaffPrincipal(user_id=user.id, session_id=uuid.uuid4(), email=user.email)
    personal = (await list_teams(ctx, staff, PageRequest(size=1))).items[0]
    team = await resolve_team(ctx, staff, personal.id, "hubs:write")
    hub = await create_hub(ctx, team, {
        "name": "Demo Community", "slug": "demo",
        "description": "A sample hub seeded by `hubwire demo`.",
        "allowed_redirect_origins": [svc.settings.public_url],
    })
    for first, last, stage in [("Ada", "Lovelace", "member"), ("Grace", "Hopper", "customer"),
                               ("Alan", "Turing", "lead")]:
        record, _ = await upsert_team_contact(ctx, team, f"{first.lower()}@example.com",
                                              {"first_name": first, "last_name": last, "lifecycle_stage": stage,
                                               "source": "demo"})
        if stage != "lead":
            view, _ = await add_membership(ctx, team, hub, contact_id=str(record.team_contact.contact_id))
            # a name the other members see in the web app (members change it in their profile)
            view.membership.profile = {**(view.membership.profile or {}), "display_name": first}
    await create_space(ctx, hub, {"name": "General", "description": "Say hello!", "is_default": True})
    return {"team_id": str(team.team_id), "hub_id": str(hub.id)}


if __name__ == "__main__":
    sys.exit(main())
