"""Staff identity: /api/v1/auth/register, login, refresh, logout, me.

Everything goes through the HTTP API of a real app on the run's real database (and Redis when
configured). Time-dependent behaviour moves the injected clock instead of sleeping.
"""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
import sqlalchemy as sa
from litestar.testing import AsyncTestClient

from domain.clock import FrozenClock
from domain.context import Ctx
from domain.identity import sessions
from domain.identity.tokens import sha256_hex
from persistence.db import UnitOfWork, create_engine, session_factory, sqlite_transactions_waiting
from persistence.models import RefreshToken
from server.app import create_app
from server.services import build_services
from server.settings import Settings, SettingsError
from tests.support.api import PASSWORD, assert_error, bearer, register, unique_email
from tests.support.app import db_rows
from tests.support.community import LogLines, race, row_lock

AUTH = "/api/v1/auth"


# ---- helpers ------------------------------------------------------------------------------------


async def register_raw(client: Any, email: str, password: str = PASSWORD, **extra: Any) -> Any:
    return await client.post(f"{AUTH}/register", json={"email": email, "password": password, **extra})


async def login(client: Any, email: str, password: str = PASSWORD) -> Any:
    return await client.post(f"{AUTH}/login", json={"email": email, "password": password})


STRANGER = {"User-Agent": "stranger-device/1.0"}  # not the device the account signed in from


async def login_from(client: Any, headers: dict[str, str], email: str, password: str = PASSWORD) -> Any:
    return await client.post(f"{AUTH}/login", json={"email": email, "password": password}, headers=headers)


async def login_ok(client: Any, email: str, password: str = PASSWORD) -> dict[str, Any]:
    r = await login(client, email, password)
    assert r.status_code == 200, r.text
    return dict(r.json())


async def refresh(client: Any, refresh_token: str) -> Any:
    return await client.post(f"{AUTH}/refresh", json={"refresh_token": refresh_token})


async def me(client: Any, token: str) -> Any:
    return await client.get(f"{AUTH}/me", headers=bearer(token))


async def assert_me_ok(client: Any, token: str, email: str) -> dict[str, Any]:
    r = await me(client, token)
    assert r.status_code == 200, r.text
    body = dict(r.json())
    assert body["user"]["email"] == email
    return body


def assert_401(response: Any, code: str) -> dict[str, Any]:
    err = assert_error(response, 401, code)
    assert response.headers["www-authenticate"].lower().startswith("bearer")
    return err


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def jwt_claims(token: str) -> dict[str, Any]:
    return dict(jwt.decode(token, options={"verify_signature": False}))


@asynccontextmanager
async def limited_client(tmp_path: Path, database_url: str, redis_prefix: str, clock: Any,
                         **limits: str) -> AsyncIterator[AsyncTestClient[Any]]:
    """A separate app with its own rate-limit counters (its own Redis prefix) and tight limits."""
    from tests.support.backends import make_settings

    label = "rl" + secrets.token_hex(4)
    settings = make_settings(tmp_path / label, database_url, f"{redis_prefix}{label}:", **limits)
    app = create_app(settings, clock=clock)
    async with AsyncTestClient(app) as c:
        yield c


# ---- register -----------------------------------------------------------------------------------


async def test_register_returns_tokens_and_user(client):
    email = unique_email("reg")
    r = await register_raw(client, email, first_name="Ada", last_name="Lovelace")
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["access_token"] and body["refresh_token"]
    assert body["access_token"] != body["refresh_token"]
    assert body["token_type"] == "Bearer"
    user = body["user"]
    assert user["email"] == email
    assert user["first_name"] == "Ada" and user["last_name"] == "Lovelace"
    uuid.UUID(user["id"])
    assert "password" not in r.text and PASSWORD not in r.text  # no password or hash leaks
    assert "password_hash" not in user

    # The access token works straight away and names the same user.
    mine = await assert_me_ok(client, body["access_token"], email)
    assert mine["user"]["id"] == user["id"]
    # ... and so does the refresh token.
    rotated = await refresh(client, body["refresh_token"])
    assert rotated.status_code == 200, rotated.text


async def test_register_creates_personal_team(client):
    email = unique_email("team")
    r = await register_raw(client, email, first_name="Grace")
    assert r.status_code == 201, r.text
    token = r.json()["access_token"]

    teams = await client.get("/api/v1/teams", headers=bearer(token))
    assert teams.status_code == 200, teams.text
    data = teams.json()["data"]
    assert len(data) == 1
    assert data[0]["type"] == "teams"
    assert data[0]["attributes"]["name"] == "Grace's team"

    mine = await assert_me_ok(client, token, email)
    assert [t["team_id"] for t in mine["teams"]] == [data[0]["id"]]

    # The team is the user's own: they can read it; another user cannot.
    own = await client.get(f"/api/v1/teams/{data[0]['id']}", headers=bearer(token))
    assert own.status_code == 200, own.text
    stranger = await register(client, "stranger")
    other = await client.get(f"/api/v1/teams/{data[0]['id']}", headers=stranger.headers)
    assert_error(other, 404, "not_found")


async def test_register_normalizes_email(client):
    email = unique_email("norm")
    r = await register_raw(client, "  " + email.upper() + " ")
    assert r.status_code == 201, r.text
    assert r.json()["user"]["email"] == email
    await login_ok(client, email)


async def test_register_duplicate_email_is_409_case_insensitive(client):
    email = unique_email("dup")
    first = await register_raw(client, email)
    assert first.status_code == 201, first.text

    for variant in (email, email.upper(), f" {email.capitalize()} "):
        r = await register_raw(client, variant, password="another password 123")
        assert_error(r, 409, "email_taken", pointer="/email")

    # The failed attempts changed nothing: the original password still logs in, the new one does not.
    await login_ok(client, email)
    assert_401(await login(client, email, "another password 123"), "invalid_credentials")


async def test_register_invalid_email(client):
    for bad in ("not-an-email", "a@b", "two@@example.test", "spaces in@example.test", ""):
        r = await register_raw(client, bad)
        assert_error(r, 422, "invalid_email", pointer="/email")


async def test_register_password_length(client):
    short = await register_raw(client, unique_email("short"), password="x" * 9)
    assert_error(short, 422, "password_too_short", pointer="/password")

    long = await register_raw(client, unique_email("long"), password="x" * 257)
    assert_error(long, 422, "password_too_long", pointer="/password")

    # The boundaries themselves are accepted.
    ok_min = await register_raw(client, unique_email("min"), password="x" * 10)
    assert ok_min.status_code == 201, ok_min.text
    ok_max = await register_raw(client, unique_email("max"), password="y" * 256)
    assert ok_max.status_code == 201, ok_max.text


async def test_register_rejects_unknown_field(client):
    r = await register_raw(client, unique_email("unk"), is_admin=True)
    assert_error(r, 422, "unknown_field", pointer="/is_admin")


async def test_register_wrong_types_and_missing_fields(client):
    r = await client.post(f"{AUTH}/register", json={"email": 12345, "password": PASSWORD})
    assert_error(r, 422, "invalid_value", pointer="/email")

    r = await client.post(f"{AUTH}/register", json={"email": unique_email("t"), "password": ["a"] * 12})
    assert_error(r, 422, "invalid_value", pointer="/password")

    r = await client.post(f"{AUTH}/register", json={"email": unique_email("t"), "password": PASSWORD,
                                                    "first_name": 7})
    assert_error(r, 422, "invalid_value", pointer="/first_name")

    r = await client.post(f"{AUTH}/register", json={"email": unique_email("t")})
    assert_error(r, 422, "missing_field", pointer="/password")

    r = await client.post(f"{AUTH}/register", json=["not", "an", "object"])
    assert_error(r, 422, "invalid_value")


async def test_register_rejects_malformed_and_non_json_bodies(client):
    r = await client.post(f"{AUTH}/register", content=b'{"email": ', headers={"Content-Type": "application/json"})
    assert_error(r, 400, "invalid_json")

    r = await client.post(f"{AUTH}/register", content=b"email=a@b.test&password=xxxxxxxxxxxx",
                          headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert_error(r, 415, "unsupported_media_type")


async def test_failed_register_creates_nothing(client):
    email = unique_email("nothing")
    attempts = [
        {"email": email, "password": "short"},
        {"email": email, "password": PASSWORD, "unexpected": 1},
        {"email": email, "password": PASSWORD, "first_name": 1},
    ]
    for body in attempts:
        r = await client.post(f"{AUTH}/register", json=body)
        assert r.status_code == 422, r.text
        # No account exists: the password from the request does not log in.
        assert_401(await login(client, email, body["password"]), "invalid_credentials")

    # The email is still free.
    r = await register_raw(client, email)
    assert r.status_code == 201, r.text
    teams = await client.get("/api/v1/teams", headers=bearer(r.json()["access_token"]))
    assert len(teams.json()["data"]) == 1


# ---- login --------------------------------------------------------------------------------------


async def test_login_success(client):
    staff = await register(client, "login")
    body = await login_ok(client, staff.email)
    assert body["token_type"] == "Bearer"
    assert body["user"]["email"] == staff.email
    assert body["user"]["id"] == staff.tokens["user"]["id"]
    # A login opens a new session: new tokens, and the registration's tokens keep working too.
    assert body["access_token"] != staff.access
    assert body["refresh_token"] != staff.tokens["refresh_token"]
    await assert_me_ok(client, body["access_token"], staff.email)
    await assert_me_ok(client, staff.access, staff.email)
    mine = await assert_me_ok(client, body["access_token"], staff.email)
    assert [t["team_id"] for t in mine["teams"]] == [staff.team_id]


async def test_login_email_is_case_insensitive(client):
    staff = await register(client, "case")
    for variant in (staff.email.upper(), f"  {staff.email.capitalize()}  "):
        body = await login_ok(client, variant)
        assert body["user"]["email"] == staff.email


async def test_login_wrong_password_and_unknown_email_look_the_same(client):
    staff = await register(client, "probe")
    wrong_password = await login(client, staff.email, PASSWORD + "!")
    unknown_email = await login(client, unique_email("nobody"), PASSWORD)
    a = assert_401(wrong_password, "invalid_credentials")
    b = assert_401(unknown_email, "invalid_credentials")
    for err in (a, b):
        err["meta"].pop("request_id")
    assert a == b  # same title, detail, everything: the response does not reveal which was wrong
    assert wrong_password.headers["www-authenticate"] == unknown_email.headers["www-authenticate"]


async def test_login_password_is_case_sensitive(client):
    staff = await register(client, "pwcase")
    assert_401(await login(client, staff.email, PASSWORD.upper()), "invalid_credentials")
    assert_401(await login(client, staff.email, ""), "invalid_credentials")


async def test_login_body_validation(client):
    r = await client.post(f"{AUTH}/login", json={"email": unique_email()})
    assert_error(r, 422, "missing_field", pointer="/password")
    r = await client.post(f"{AUTH}/login", json={"email": unique_email(), "password": PASSWORD, "remember": True})
    assert_error(r, 422, "unknown_field", pointer="/remember")
    r = await client.post(f"{AUTH}/login", json={"email": unique_email(), "password": 12})
    assert_error(r, 422, "invalid_value", pointer="/password")


# ---- rate limiting ------------------------------------------------------------------------------


async def test_login_rate_limit_per_email_then_per_ip(tmp_path, database_url, redis_prefix, clock):
    async with limited_client(tmp_path, database_url, redis_prefix, clock,
                              HUBWIRE_LOGIN_LIMIT_PER_EMAIL="3", HUBWIRE_LOGIN_LIMIT_PER_IP="5") as c:
        victim = unique_email("victim")
        bystander = unique_email("bystander")
        for email in (victim, bystander):
            r = await register_raw(c, email)  # registration has its own per-IP counter
            assert r.status_code == 201, r.text

        # Three failures for the victim's email (attempts 1-3 from this IP) ...
        for _ in range(3):
            assert_401(await login_from(c, STRANGER, victim, "wrong password!!"), "invalid_credentials")
        # ... lock it: even the right password is refused now (attempt 4), from any device that
        # has not signed in to this account before.
        locked = await login_from(c, STRANGER, victim, PASSWORD)
        assert_error(locked, 429, "rate_limited")
        retry_after = int(locked.headers["retry-after"])
        assert 1 <= retry_after <= 900
        assert "access_token" not in locked.text

        # Another email is not locked by the victim's failures (attempt 5 from this IP) ...
        ok = await login(c, bystander, PASSWORD)
        assert ok.status_code == 200, ok.text
        # ... until the per-IP limit of 5 attempts trips (attempt 6).
        ip_limited = await login(c, bystander, PASSWORD)
        assert_error(ip_limited, 429, "rate_limited")
        assert int(ip_limited.headers["retry-after"]) >= 1


async def test_login_rate_limit_counts_email_case_insensitively(tmp_path, database_url, redis_prefix, clock):
    async with limited_client(tmp_path, database_url, redis_prefix, clock,
                              HUBWIRE_LOGIN_LIMIT_PER_EMAIL="3", HUBWIRE_LOGIN_LIMIT_PER_IP="100") as c:
        email = unique_email("variants")
        assert (await register_raw(c, email)).status_code == 201
        for variant in (email, email.upper(), f" {email.capitalize()} "):
            assert_401(await login(c, variant, "wrong password!!"), "invalid_credentials")
        # Changing the letter case does not get around the lock.
        assert_error(await login_from(c, STRANGER, email.upper(), PASSWORD), 429, "rate_limited")
        assert_error(await login_from(c, STRANGER, email, PASSWORD), 429, "rate_limited")


async def test_successful_login_resets_email_failures(tmp_path, database_url, redis_prefix, clock):
    async with limited_client(tmp_path, database_url, redis_prefix, clock,
                              HUBWIRE_LOGIN_LIMIT_PER_EMAIL="3", HUBWIRE_LOGIN_LIMIT_PER_IP="100") as c:
        email = unique_email("reset")
        assert (await register_raw(c, email)).status_code == 201
        for _ in range(2):
            assert_401(await login(c, email, "wrong password!!"), "invalid_credentials")
        await login_ok(c, email)  # resets the failure count for this email
        # Without the reset these would be failures 3 and 4, and the next login a 429.
        for _ in range(2):
            assert_401(await login(c, email, "wrong password!!"), "invalid_credentials")
        await login_ok(c, email)


async def test_rate_limit_does_not_leak_between_emails(tmp_path, database_url, redis_prefix, clock):
    async with limited_client(tmp_path, database_url, redis_prefix, clock,
                              HUBWIRE_LOGIN_LIMIT_PER_EMAIL="2", HUBWIRE_LOGIN_LIMIT_PER_IP="100") as c:
        a, b = unique_email("a"), unique_email("b")
        for email in (a, b):
            assert (await register_raw(c, email)).status_code == 201
        for _ in range(2):
            assert_401(await login(c, a, "wrong password!!"), "invalid_credentials")
        assert_error(await login_from(c, STRANGER, a, PASSWORD), 429, "rate_limited")
        # b has had no failures: a wrong password is a plain 401, the right one logs in.
        assert_401(await login(c, b, "wrong password!!"), "invalid_credentials")
        await login_ok(c, b)
        # An unknown email is counted like a known one (no probing through the limiter either).
        ghost = unique_email("ghost")
        for _ in range(2):
            assert_401(await login(c, ghost, PASSWORD), "invalid_credentials")
        assert_error(await login(c, ghost, PASSWORD), 429, "rate_limited")


async def test_a_stranger_cannot_lock_the_owner_out_of_their_account(tmp_path, database_url, redis_prefix, clock):
    """Issue 13: failed logins lock an email for everyone but a device that has signed in to it
    before (same address and user agent), which gets in with the right password."""
    owner_device = {"User-Agent": "creator-laptop/2.0"}
    async with limited_client(tmp_path, database_url, redis_prefix, clock,
                              HUBWIRE_LOGIN_LIMIT_PER_EMAIL="3", HUBWIRE_LOGIN_LIMIT_PER_IP="100") as c:
        email = unique_email("creator")
        r = await c.post(f"{AUTH}/register", json={"email": email, "password": PASSWORD}, headers=owner_device)
        assert r.status_code == 201, r.text
        # The attacker fails until the email is locked ...
        for _ in range(3):
            assert_401(await login_from(c, STRANGER, email, "guess-guess-guess"), "invalid_credentials")
        # ... and stays locked out, even with the right password.
        assert_error(await login_from(c, STRANGER, email, PASSWORD), 429, "rate_limited")
        # The owner, from the device they signed in with: a wrong password is refused like any
        # attempt under the lock (no oracle), the right one gets in.
        assert_error(await login_from(c, owner_device, email, "typo-typo-typo"), 429, "rate_limited")
        ok = await login_from(c, owner_device, email, PASSWORD)
        assert ok.status_code == 200, ok.text
        assert (await me(c, ok.json()["access_token"])).status_code == 200
        # The owner getting in does not lift the lock for the attacker.
        assert_error(await login_from(c, STRANGER, email, PASSWORD), 429, "rate_limited")
        # A device is known to the accounts it signed in to only.
        other = unique_email("other")
        assert (await c.post(f"{AUTH}/register", json={"email": other, "password": PASSWORD},
                             headers=STRANGER)).status_code == 201
        assert_error(await login_from(c, STRANGER, email, PASSWORD), 429, "rate_limited")


async def test_known_device_needs_the_same_address_and_user_agent(settings, clock):
    engine = create_engine(settings.database_url)
    try:
        svc = build_services(settings, clock)
        async with UnitOfWork(session_factory(engine)) as uow:
            ctx = Ctx(uow, clock, svc.access_cache, svc.limiter)
            email = unique_email("device")
            await sessions.register_user(ctx, email=email, password=PASSWORD, ip="203.0.113.7",
                                         user_agent="Browser/1", auth=svc.auth)
            assert await sessions.is_known_device(ctx, email=f" {email.upper()} ", ip="203.0.113.7",
                                                  user_agent="Browser/1")
            assert not await sessions.is_known_device(ctx, email=email, ip="198.51.100.9", user_agent="Browser/1")
            assert not await sessions.is_known_device(ctx, email=email, ip="203.0.113.7", user_agent="Browser/2")
            assert not await sessions.is_known_device(ctx, email=email, ip="203.0.113.7", user_agent=None)
            assert not await sessions.is_known_device(ctx, email=unique_email("nobody"), ip="203.0.113.7",
                                                      user_agent="Browser/1")
            clock.advance(days=91)
            assert not await sessions.is_known_device(ctx, email=email, ip="203.0.113.7", user_agent="Browser/1")
        await svc.engine.dispose()
    finally:
        await engine.dispose()


# ---- access tokens ------------------------------------------------------------------------------


async def test_me_with_access_token(client):
    staff = await register(client, "me")
    body = await assert_me_ok(client, staff.access, staff.email)
    assert body["user"]["id"] == staff.tokens["user"]["id"]
    assert body["teams"][0]["team_id"] == staff.team_id
    assert body["teams"][0]["name"] and body["teams"][0]["slug"]


async def test_access_token_expires(client, clock, settings):
    staff = await register(client, "exp")
    assert settings.access_token_ttl_seconds == 900
    clock.advance(seconds=850)
    await assert_me_ok(client, staff.access, staff.email)  # still valid well within its lifetime
    clock.advance(seconds=51)  # 901 s after issue
    assert_401(await me(client, staff.access), "token_expired")
    # A refresh gives a working access token again.
    r = await refresh(client, staff.tokens["refresh_token"])
    assert r.status_code == 200, r.text
    await assert_me_ok(client, r.json()["access_token"], staff.email)


async def test_tokens_minted_by_a_clock_ahead_are_accepted(client, clock):
    # Expiry is judged by the server's clock alone: a token issued while that clock runs ahead of
    # the wall clock (or by another instance whose clock is a little ahead) must still work.
    staff = await register(client, "ahead")
    clock.advance(seconds=120)
    body = await login_ok(client, staff.email)
    await assert_me_ok(client, body["access_token"], staff.email)


async def test_garbage_tokens_are_rejected(client):
    for token in ("garbage", "a.b.c", "hw_rt_notanaccesstoken", "eyJhbGciOiJIUzI1NiJ9.e30.x"):
        assert_401(await me(client, token), "invalid_token")


async def test_tampered_token_is_rejected(client):
    staff = await register(client, "tamper")
    header, payload, signature = staff.access.split(".")

    # Flip the signature.
    sig = bytearray(base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)))
    sig[0] ^= 0x01
    assert_401(await me(client, f"{header}.{payload}.{b64url(bytes(sig))}"), "invalid_token")

    # Change the claims (pretend to be someone else) but keep the old signature.
    other = await register(client, "victim")
    claims = jwt_claims(staff.access)
    claims["sub"] = other.tokens["user"]["id"]
    forged_payload = b64url(json.dumps(claims).encode())
    assert_401(await me(client, f"{header}.{forged_payload}.{signature}"), "invalid_token")

    # The untouched token still works.
    await assert_me_ok(client, staff.access, staff.email)


async def test_token_signed_with_another_secret_is_rejected(client, settings):
    staff = await register(client, "othersecret")
    claims = jwt_claims(staff.access)
    forged = jwt.encode(claims, "some-other-secret-" + "y" * 40, algorithm="HS256")
    assert_401(await me(client, forged), "invalid_token")

    # Unsigned ("alg": "none") tokens are not accepted either.
    unsigned = b64url(b'{"alg":"none","typ":"JWT"}') + "." + b64url(json.dumps(claims).encode()) + "."
    assert_401(await me(client, unsigned), "invalid_token")

    # Control: the same claims signed with the server's key are accepted.
    genuine = jwt.encode(claims, settings.secret_key, algorithm="HS256")
    await assert_me_ok(client, genuine, staff.email)


async def test_access_token_for_unknown_session_is_rejected(client, settings):
    staff = await register(client, "nosession")
    claims = jwt_claims(staff.access)
    claims["sid"] = str(uuid.uuid4())
    forged = jwt.encode(claims, settings.secret_key, algorithm="HS256")
    assert_401(await me(client, forged), "invalid_token")


async def test_non_bearer_authorization_header(client):
    staff = await register(client, "scheme")
    for value in (f"Basic {staff.access}", f"Token {staff.access}", staff.access, "Bearer", "Bearer    "):
        r = await client.get(f"{AUTH}/me", headers={"Authorization": value})
        assert_401(r, "invalid_authorization_header")
    # The scheme is case-insensitive.
    r = await client.get(f"{AUTH}/me", headers={"Authorization": f"bearer {staff.access}"})
    assert r.status_code == 200, r.text


async def test_missing_authorization_header(client):
    assert_401(await client.get(f"{AUTH}/me"), "unauthenticated")


async def test_api_key_cannot_call_staff_only_routes(client):
    staff = await register(client, "keyowner")
    r = await client.post(f"/api/v1/teams/{staff.team_id}/api-keys",
                          json={"name": "k", "scopes": ["teams:read"]}, headers=staff.headers)
    assert r.status_code == 201, r.text
    key = r.json()["secret"]

    # The key itself is valid: it can read its team.
    team = await client.get(f"/api/v1/teams/{staff.team_id}", headers=bearer(key))
    assert team.status_code == 200, team.text

    assert_error(await me(client, key), 403, "staff_only")
    assert_error(await client.post(f"{AUTH}/logout", headers=bearer(key)), 403, "staff_only")
    # The staff session is unaffected by the key's attempts.
    await assert_me_ok(client, staff.access, staff.email)


# ---- refresh ------------------------------------------------------------------------------------


async def test_refresh_rotates(client):
    staff = await register(client, "rotate")
    r = await refresh(client, staff.tokens["refresh_token"])
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["refresh_token"] != staff.tokens["refresh_token"]
    assert body["access_token"] != staff.access
    assert body["user"]["id"] == staff.tokens["user"]["id"]
    await assert_me_ok(client, body["access_token"], staff.email)
    # Rotation does not end the session: the earlier access token keeps working until it expires.
    await assert_me_ok(client, staff.access, staff.email)
    # The new refresh token rotates again.
    again = await refresh(client, body["refresh_token"])
    assert again.status_code == 200, again.text
    assert again.json()["refresh_token"] not in {body["refresh_token"], staff.tokens["refresh_token"]}


async def test_refresh_token_reuse_revokes_the_family(client):
    staff = await register(client, "reuse")
    other_session = await login_ok(client, staff.email)
    first_refresh = staff.tokens["refresh_token"]

    r1 = await refresh(client, first_refresh)
    assert r1.status_code == 200, r1.text
    r2 = await refresh(client, r1.json()["refresh_token"])
    assert r2.status_code == 200, r2.text
    newest = r2.json()

    # Someone presents the first, already used, refresh token.
    assert_401(await refresh(client, first_refresh), "refresh_token_reused")

    # The whole family is dead: the newest refresh token ...
    assert_401(await refresh(client, newest["refresh_token"]), "session_revoked")
    # ... every access token minted in the session ...
    for token in (staff.access, r1.json()["access_token"], newest["access_token"]):
        assert_401(await me(client, token), "token_revoked")
    # ... and presenting the reused token again does not resurrect anything.
    assert_401(await refresh(client, first_refresh), "session_revoked")
    assert_401(await refresh(client, r1.json()["refresh_token"]), "session_revoked")

    # The user's other session (another device) is untouched.
    await assert_me_ok(client, other_session["access_token"], staff.email)
    r = await refresh(client, other_session["refresh_token"])
    assert r.status_code == 200, r.text
    await assert_me_ok(client, r.json()["access_token"], staff.email)


async def test_refresh_token_expires(client, clock, settings):
    staff = await register(client, "rexp")
    clock.advance(seconds=settings.refresh_token_ttl_seconds + 1)
    assert_401(await refresh(client, staff.tokens["refresh_token"]), "refresh_token_expired")
    # A new login still works.
    body = await login_ok(client, staff.email)
    await assert_me_ok(client, body["access_token"], staff.email)


async def test_refresh_token_still_valid_before_ttl_and_session_slides(client, clock, settings):
    ttl = settings.refresh_token_ttl_seconds
    staff = await register(client, "slide")
    clock.advance(seconds=ttl - 60)
    r1 = await refresh(client, staff.tokens["refresh_token"])
    assert r1.status_code == 200, r1.text
    # Each rotation extends the session: well past ttl since login, the fresh token still works.
    clock.advance(seconds=ttl - 60)
    r2 = await refresh(client, r1.json()["refresh_token"])
    assert r2.status_code == 200, r2.text
    await assert_me_ok(client, r2.json()["access_token"], staff.email)
    # Left idle for longer than ttl, it ends.
    clock.advance(seconds=ttl + 1)
    assert_401(await refresh(client, r2.json()["refresh_token"]), "refresh_token_expired")


async def test_unknown_refresh_token(client):
    for token in ("hw_rt_" + secrets.token_urlsafe(32), "nonsense", ""):
        assert_401(await refresh(client, token), "invalid_refresh_token")


async def test_access_token_is_not_a_refresh_token(client):
    staff = await register(client, "confuse")
    assert_401(await refresh(client, staff.access), "invalid_refresh_token")
    # and a refresh token is not an access token
    assert_401(await me(client, staff.tokens["refresh_token"]), "invalid_token")


async def test_refresh_body_validation(client):
    r = await client.post(f"{AUTH}/refresh", json={})
    assert_error(r, 422, "missing_field", pointer="/refresh_token")
    r = await client.post(f"{AUTH}/refresh", json={"refresh_token": 5})
    assert_error(r, 422, "invalid_value", pointer="/refresh_token")


# ---- refresh: the reuse grace window -------------------------------------------------------------
#
# For HUBWIRE_REFRESH_REUSE_GRACE seconds after a rotation, the token just rotated (and only it)
# answers with the same successor instead of revoking: two tabs refreshing at once both carry on.


def at(iso: str) -> datetime:
    return datetime.fromisoformat(iso.replace("Z", "+00:00"))


async def test_reuse_within_grace_returns_the_same_successor(client):
    staff = await register(client, "grace")
    first = staff.tokens["refresh_token"]
    r1 = await refresh(client, first)
    assert r1.status_code == 200, r1.text
    successor = r1.json()

    # The just-rotated token comes back moments later (a second tab, a retried request) ...
    again = await refresh(client, first)
    assert again.status_code == 200, again.text
    body = again.json()
    # ... and gets the same successor, not a second one: the family never forks.
    assert body["refresh_token"] == successor["refresh_token"]
    assert body["refresh_expires_at"] == successor["refresh_expires_at"]
    assert body["user"]["id"] == staff.tokens["user"]["id"]
    # Its access token is a new one for the same session, and it works, as does everything else.
    assert body["access_token"] != successor["access_token"]
    assert jwt_claims(body["access_token"])["sid"] == jwt_claims(successor["access_token"])["sid"]
    for token in (body["access_token"], successor["access_token"], staff.access):
        await assert_me_ok(client, token, staff.email)
    # Asking once more is answered the same way: the grace answer changes nothing.
    third = await refresh(client, first)
    assert third.status_code == 200, third.text
    assert third.json()["refresh_token"] == successor["refresh_token"]

    # The shared successor rotates as usual ...
    r2 = await refresh(client, successor["refresh_token"])
    assert r2.status_code == 200, r2.text
    assert r2.json()["refresh_token"] not in {first, successor["refresh_token"]}
    # ... and from then on the first token is two rotations back: reuse, the family is revoked.
    assert_401(await refresh(client, first), "refresh_token_reused")
    assert_401(await refresh(client, r2.json()["refresh_token"]), "session_revoked")
    for token in (staff.access, body["access_token"], r2.json()["access_token"]):
        assert_401(await me(client, token), "token_revoked")


def refresh_race(client: Any, app: Any, refresh_token: str, racers: int) -> list[Any]:
    """``racers`` refreshes with one token at once (tests/support's race()): on PostgreSQL the
    token's row is held until every request has read it as unused and waits to consume it."""
    row = db_rows(client, app, sa.select(RefreshToken.id).where(RefreshToken.token_hash == sha256_hex(refresh_token)))
    return race(client, app, row_lock(RefreshToken, str(row[0])),
                *[("POST", f"{AUTH}/refresh", {}, {"refresh_token": refresh_token})] * racers)


LOST_ROTATION = "refresh lost the rotation race"  # sessions.refresh's contested branch, logged at DEBUG


async def test_concurrent_refreshes_with_one_token_all_succeed_with_one_successor(client, app):
    # Tabs racing with the same refresh token: one rotates it, the others get that same
    # successor within the grace window. Nobody is logged out and the user carries on.
    # On PostgreSQL every racer has read the token as unused before any consumes it, so all but
    # one lose inside the database (the branch whose log line is counted); on SQLite the write
    # transactions queue whole, so the later ones see it used and take the grace answer directly.
    postgres = app.state.services.engine.dialect.name == "postgresql"
    for racers in (2, 2, 5):
        staff = await register(client, "race")
        with LogLines("domain.identity.sessions") as log:
            results = refresh_race(client, app, staff.tokens["refresh_token"], racers)
        print(f"\n{racers} racing refreshes: the contested branch ran {log.count(LOST_ROTATION)} times")
        assert log.count(LOST_ROTATION) == (racers - 1 if postgres else 0)
        assert [r.status_code for r in results] == [200] * racers, [r.text for r in results]
        bodies = [r.json() for r in results]
        assert len({b["refresh_token"] for b in bodies}) == 1, "a rotation forked the family"
        assert len({b["refresh_expires_at"] for b in bodies}) == 1
        shared = bodies[0]["refresh_token"]
        assert shared != staff.tokens["refresh_token"]

        # Every racer's access token works: the session is alive.
        for b in bodies:
            await assert_me_ok(client, b["access_token"], staff.email)
        # The token they share lets the user continue: it rotates, and the result works too.
        nxt = await refresh(client, shared)
        assert nxt.status_code == 200, nxt.text
        assert nxt.json()["refresh_token"] not in {shared, staff.tokens["refresh_token"]}
        await assert_me_ok(client, nxt.json()["access_token"], staff.email)
        await assert_me_ok(client, staff.access, staff.email)


async def test_refresh_that_loses_the_race_inside_the_database_gets_the_same_successor(client, app, database_url):
    # Over HTTP the race may be settled before the second request reads the token. Here the loser
    # starts while the winner's rotation is still uncommitted: on PostgreSQL it read the token as
    # unused and its consuming UPDATE waits on the winner's row lock, then finds nothing left to
    # consume; on SQLite it waits for the winner's write transaction before reading anything.
    auth = app.state.services.auth
    staff = await register(client, "dbrace")
    token = staff.tokens["refresh_token"]
    engine = create_engine(database_url)
    factory = session_factory(engine)
    winner_rotated = False
    loser_waiting = asyncio.Event()

    def watch(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if winner_rotated and statement.lstrip().upper().startswith("UPDATE REFRESH_TOKENS"):
            loser_waiting.set()


    async def lose() -> sessions.IssuedTokens:
        async with UnitOfWork(factory) as uow:
            return await sessions.refresh(app.state.services.ctx(uow), refresh_token=token, auth=auth)

    sa.event.listen(engine.sync_engine, "before_cursor_execute", watch)
    try:
        async with UnitOfWork(factory) as first:
            won = await sessions.refresh(app.state.services.ctx(first), refresh_token=token, auth=auth)
            winner_rotated = True
            loser = asyncio.create_task(lose())
            if engine.dialect.name == "sqlite":  # the loser's BEGIN queues behind the winner's transaction
                async def queued() -> None:
                    while not sqlite_transactions_waiting(engine):
                        assert not loser.done(), loser
                        await asyncio.sleep(0.01)
                    loser_waiting.set()
                await asyncio.wait_for(queued(), timeout=30)
            await asyncio.wait_for(loser_waiting.wait(), timeout=30)
        # The winner has committed; the loser can go on.
        lost = await asyncio.wait_for(loser, timeout=30)
    finally:
        await engine.dispose()

    assert lost.refresh_token == won.refresh_token
    assert lost.refresh_expires_at == won.refresh_expires_at
    for issued in (won, lost):
        await assert_me_ok(client, issued.access_token, staff.email)
    nxt = await refresh(client, won.refresh_token)
    assert nxt.status_code == 200, nxt.text
    await assert_me_ok(client, nxt.json()["access_token"], staff.email)


async def test_reuse_after_the_grace_window_revokes_the_family(client, clock, settings):
    assert settings.refresh_reuse_grace_seconds == 10  # the default
    staff = await register(client, "graceover")
    other_session = await login_ok(client, staff.email)
    r1 = await refresh(client, staff.tokens["refresh_token"])
    assert r1.status_code == 200, r1.text

    clock.advance(seconds=settings.refresh_reuse_grace_seconds + 1)
    assert_401(await refresh(client, staff.tokens["refresh_token"]), "refresh_token_reused")
    # The whole family is dead: the successor and every access token of the session.
    assert_401(await refresh(client, r1.json()["refresh_token"]), "session_revoked")
    for token in (staff.access, r1.json()["access_token"]):
        assert_401(await me(client, token), "token_revoked")
    # Presenting the reused token again does not resurrect anything.
    assert_401(await refresh(client, staff.tokens["refresh_token"]), "session_revoked")
    # The user's other session is untouched.
    await assert_me_ok(client, other_session["access_token"], staff.email)


async def test_grace_window_boundary(tmp_path, database_url, redis_prefix):
    clock = FrozenClock()
    async with limited_client(tmp_path, database_url, redis_prefix, clock, HUBWIRE_REFRESH_REUSE_GRACE="10") as c:
        staff = await register(c, "boundary")
        r1 = await refresh(c, staff.tokens["refresh_token"])
        assert r1.status_code == 200, r1.text

        # The window is [rotation, rotation + 10 s): the last instant inside it still answers ...
        clock.advance(seconds=10, microseconds=-1)
        inside = await refresh(c, staff.tokens["refresh_token"])
        assert inside.status_code == 200, inside.text
        assert inside.json()["refresh_token"] == r1.json()["refresh_token"]
        # ... the first instant outside is reuse.
        clock.advance(microseconds=1)
        assert_401(await refresh(c, staff.tokens["refresh_token"]), "refresh_token_reused")
        assert_401(await refresh(c, r1.json()["refresh_token"]), "session_revoked")


async def test_reuse_of_a_token_two_rotations_back_revokes_even_within_grace(client):
    staff = await register(client, "twoback")
    first = staff.tokens["refresh_token"]
    r1 = await refresh(client, first)
    assert r1.status_code == 200, r1.text
    r2 = await refresh(client, r1.json()["refresh_token"])
    assert r2.status_code == 200, r2.text

    # Milliseconds later, well inside the window: but the first token's successor has itself
    # been rotated, so this is not a racing tab; it is a replay.
    assert_401(await refresh(client, first), "refresh_token_reused")
    assert_401(await refresh(client, r2.json()["refresh_token"]), "session_revoked")
    assert_401(await refresh(client, r1.json()["refresh_token"]), "session_revoked")
    assert_401(await me(client, r2.json()["access_token"]), "token_revoked")


async def test_refresh_after_logout_fails_even_within_grace(client):
    staff = await register(client, "gracelogout")
    r1 = await refresh(client, staff.tokens["refresh_token"])
    assert r1.status_code == 200, r1.text
    out = await client.post(f"{AUTH}/logout", headers=bearer(r1.json()["access_token"]))
    assert out.status_code == 204, out.text

    # Logout wins: the just-rotated token gets no grace answer, the successor no rotation.
    assert_401(await refresh(client, staff.tokens["refresh_token"]), "session_revoked")
    assert_401(await refresh(client, r1.json()["refresh_token"]), "session_revoked")
    assert_401(await me(client, staff.access), "token_revoked")


async def test_grace_answer_never_extends_the_session(tmp_path, database_url, redis_prefix):
    clock = FrozenClock()
    ttl = 3600
    async with limited_client(tmp_path, database_url, redis_prefix, clock, HUBWIRE_REFRESH_TOKEN_TTL=str(ttl),
                              HUBWIRE_REFRESH_REUSE_GRACE="10") as c:
        staff = await register(c, "noextend")
        clock.advance(seconds=100)
        rotated_at = clock.now()
        r1 = await refresh(c, staff.tokens["refresh_token"])
        assert r1.status_code == 200, r1.text
        session_end = rotated_at + timedelta(seconds=ttl)
        assert at(r1.json()["refresh_expires_at"]) == session_end

        clock.advance(seconds=5)
        late = await refresh(c, staff.tokens["refresh_token"])
        assert late.status_code == 200, late.text
        # The grace answer hands back the successor's own expiry, not a fresh TTL from now.
        assert at(late.json()["refresh_expires_at"]) == session_end
        assert at(late.json()["expires_at"]) <= session_end

        # Had the grace answer slid the session, the successor would still be good here.
        clock.set(session_end + timedelta(seconds=1))
        assert_401(await refresh(c, r1.json()["refresh_token"]), "refresh_token_expired")


async def test_grace_answer_stops_at_the_sessions_end(tmp_path, database_url, redis_prefix):
    # A session that ends inside the grace window (refresh TTL shorter than the window): the
    # grace answer is capped to the session's end, and after it there is no answer at all.
    clock = FrozenClock()
    async with limited_client(tmp_path, database_url, redis_prefix, clock, HUBWIRE_REFRESH_TOKEN_TTL="5",
                              HUBWIRE_REFRESH_REUSE_GRACE="10") as c:
        staff = await register(c, "shortttl")
        rotated_at = clock.now()
        r1 = await refresh(c, staff.tokens["refresh_token"])
        assert r1.status_code == 200, r1.text
        session_end = rotated_at + timedelta(seconds=5)
        assert at(r1.json()["refresh_expires_at"]) == session_end
        # An access token never outlives its session either.
        assert at(r1.json()["expires_at"]) <= session_end

        clock.advance(seconds=3)
        inside = await refresh(c, staff.tokens["refresh_token"])
        assert inside.status_code == 200, inside.text
        assert at(inside.json()["refresh_expires_at"]) == session_end
        assert at(inside.json()["expires_at"]) <= session_end

        clock.advance(seconds=3)  # still inside the 10 s window, but past the session's end
        assert_401(await refresh(c, staff.tokens["refresh_token"]), "refresh_token_expired")
        assert_401(await refresh(c, r1.json()["refresh_token"]), "refresh_token_expired")
        assert_401(await me(c, inside.json()["access_token"]), "token_expired")


async def test_grace_window_can_be_turned_off(tmp_path, database_url, redis_prefix, clock):
    async with limited_client(tmp_path, database_url, redis_prefix, clock, HUBWIRE_REFRESH_REUSE_GRACE="0") as c:
        # Any reuse revokes, however soon ...
        staff = await register(c, "nograce")
        r1 = await refresh(c, staff.tokens["refresh_token"])
        assert r1.status_code == 200, r1.text
        assert_401(await refresh(c, staff.tokens["refresh_token"]), "refresh_token_reused")
        assert_401(await refresh(c, r1.json()["refresh_token"]), "session_revoked")
        assert_401(await me(c, r1.json()["access_token"]), "token_revoked")

        # ... and of two racing refreshes exactly one wins; the other is reuse (on PostgreSQL found
        # inside the database: the contested branch, counted from its log line).
        postgres = c.app.state.services.engine.dialect.name == "postgresql"
        for _ in range(3):
            staff = await register(c, "nograce-race")
            with LogLines("domain.identity.sessions") as log:
                results = refresh_race(c, c.app, staff.tokens["refresh_token"], 2)
            assert log.count(LOST_ROTATION) == (1 if postgres else 0)
            winners = [r for r in results if r.status_code == 200]
            losers = [r for r in results if r.status_code != 200]
            assert len(winners) == 1, [r.text for r in results]
            assert_401(losers[0], "refresh_token_reused")
            assert_401(await refresh(c, winners[0].json()["refresh_token"]), "session_revoked")


def test_refresh_reuse_grace_setting(tmp_path):
    base = {"HUBWIRE_DATA_DIR": str(tmp_path), "HUBWIRE_SECRET_KEY": "k" * 32}
    assert Settings.from_env(base).refresh_reuse_grace_seconds == 10
    assert Settings.from_env({**base, "HUBWIRE_REFRESH_REUSE_GRACE": "0"}).refresh_reuse_grace_seconds == 0
    assert Settings.from_env({**base, "HUBWIRE_REFRESH_REUSE_GRACE": "60"}).refresh_reuse_grace_seconds == 60
    for bad in ("-1", "61", "ten", "2.5"):
        with pytest.raises(SettingsError, match="HUBWIRE_REFRESH_REUSE_GRACE"):
            Settings.from_env({**base, "HUBWIRE_REFRESH_REUSE_GRACE": bad})


# ---- logout -------------------------------------------------------------------------------------


async def test_logout_with_access_token(client):
    staff = await register(client, "logout")
    other = await login_ok(client, staff.email)

    r = await client.post(f"{AUTH}/logout", headers=staff.headers)
    assert r.status_code == 204, r.text
    assert r.content == b""

    assert_401(await me(client, staff.access), "token_revoked")
    assert_401(await refresh(client, staff.tokens["refresh_token"]), "session_revoked")
    # Logging out again with the same token is refused: the session is gone.
    assert_401(await client.post(f"{AUTH}/logout", headers=staff.headers), "token_revoked")

    # Only that session ended.
    await assert_me_ok(client, other["access_token"], staff.email)
    r = await refresh(client, other["refresh_token"])
    assert r.status_code == 200, r.text


async def test_logout_ends_a_rotated_session(client):
    staff = await register(client, "logoutrot")
    rotated = (await refresh(client, staff.tokens["refresh_token"])).json()
    r = await client.post(f"{AUTH}/logout", headers=bearer(rotated["access_token"]))
    assert r.status_code == 204, r.text
    assert_401(await refresh(client, rotated["refresh_token"]), "session_revoked")
    assert_401(await me(client, staff.access), "token_revoked")


async def test_logout_with_only_refresh_token(client):
    staff = await register(client, "logoutrt")
    r = await client.post(f"{AUTH}/logout", json={"refresh_token": staff.tokens["refresh_token"]})
    assert r.status_code == 204, r.text
    assert_401(await me(client, staff.access), "token_revoked")
    assert_401(await refresh(client, staff.tokens["refresh_token"]), "session_revoked")


async def test_logout_with_access_and_refresh_token(client):
    staff = await register(client, "logoutboth")
    r = await client.post(f"{AUTH}/logout", json={"refresh_token": staff.tokens["refresh_token"]},
                          headers=staff.headers)
    assert r.status_code == 204, r.text
    assert_401(await me(client, staff.access), "token_revoked")
    assert_401(await refresh(client, staff.tokens["refresh_token"]), "session_revoked")


async def test_logout_with_nothing_is_401(client):
    assert_401(await client.post(f"{AUTH}/logout"), "unauthenticated")
    assert_401(await client.post(f"{AUTH}/logout", json={}), "unauthenticated")
    assert_401(await client.post(f"{AUTH}/logout", json={"refresh_token": None}), "unauthenticated")
    # An unknown refresh token signs nothing out.
    assert_401(await client.post(f"{AUTH}/logout", json={"refresh_token": "hw_rt_" + secrets.token_urlsafe(32)}),
               "unauthenticated")


async def test_logout_with_bad_access_token_is_401(client):
    staff = await register(client, "logoutbad")
    assert_401(await client.post(f"{AUTH}/logout", headers=bearer("garbage")), "invalid_token")
    # Nothing was signed out.
    await assert_me_ok(client, staff.access, staff.email)


async def test_logout_with_expired_access_token_still_ends_the_session_by_refresh_token(client, clock):
    staff = await register(client, "logoutexp")
    clock.advance(seconds=901)  # the access token has expired; the refresh token has not
    assert_401(await me(client, staff.access), "token_expired")
    r = await client.post(f"{AUTH}/logout", json={"refresh_token": staff.tokens["refresh_token"]},
                          headers=staff.headers)
    assert r.status_code == 204, r.text
    assert_401(await refresh(client, staff.tokens["refresh_token"]), "session_revoked")
    # Without a refresh token, an expired access token is still refused.
    other = await register(client, "logoutexp2")
    clock.advance(seconds=901)
    assert_401(await client.post(f"{AUTH}/logout", headers=other.headers), "token_expired")
