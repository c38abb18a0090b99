"""Short-lived JWT access tokens and opaque refresh/API-key secrets."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import jwt

from domain.clock import Clock
from domain.errors import Unauthenticated

ALGORITHM = "HS256"
ISSUER = "hubwire"


def sha256_hex(value: str) -> str:
    """Secrets with 256 bits of entropy need no slow hash: SHA-256 is what lookups key on."""
    return hashlib.sha256(value.encode()).hexdigest()


def random_secret(prefix: str, nbytes: int = 32) -> str:
    return prefix + secrets.token_urlsafe(nbytes)


@dataclass(frozen=True)
class AccessClaims:
    subject: uuid.UUID
    kind: str  # "staff" (later: "member")
    session_id: uuid.UUID | None
    expires_at: datetime
    extra: dict[str, Any]


class TokenService:
    """Signs and checks access tokens. Expiry is judged by the injected clock, not the wall clock.

    A client sends the same token with every request until it expires, so the claims of the last
    ``VERIFIED_CACHE`` tokens whose signature checked out are kept: checking a token again costs a
    dict lookup instead of PyJWT's decode (~0.3 ms, ~5 % of a member route's CPU; bench/README.md).
    Only genuine tokens get in (an invalid one is refused before it could be kept), and the expiry
    is judged on every use, so a kept token is refused at the same second as before. A token names
    no state that can change (revocation is by session or membership, which are read per request)."""

    VERIFIED_CACHE = 4096

    def __init__(self, secret_key: str, clock: Clock, access_ttl: timedelta) -> None:
        self._key = secret_key
        self._clock = clock
        self.access_ttl = access_ttl
        self._verified: OrderedDict[str, AccessClaims] = OrderedDict()

    def issue(self, *, subject: uuid.UUID, kind: str, session_id: uuid.UUID | None = None,
              ttl: timedelta | None = None, **extra: Any) -> tuple[str, datetime]:
        now = self._clock.now()
        expires = now + (self.access_ttl if ttl is None else ttl)
        claims: dict[str, Any] = {
            "iss": ISSUER,
            "sub": str(subject),
            "typ": kind,
            "iat": int(now.timestamp()),
            "exp": int(expires.timestamp()),
            "jti": secrets.token_hex(8),
            **extra,
        }
        if session_id is not None:
            claims["sid"] = str(session_id)
        return jwt.encode(claims, self._key, algorithm=ALGORITHM), expires

    def derive_secret(self, prefix: str, purpose: str, seed: str) -> str:
        """A secret only this server can compute from ``seed``: HMAC-SHA256 under the signing key.

        Lets a refresh token's successor be recomputed from the token itself (see
        ``sessions.refresh``) without ever storing a usable secret in the database.
        """
        mac = hmac.new(self._key.encode(), f"{purpose}\x00{seed}".encode(), hashlib.sha256).digest()
        return prefix + base64.urlsafe_b64encode(mac).rstrip(b"=").decode()

    def decode(self, token: str) -> AccessClaims:
        claims = self._verified.get(token)
        if claims is None:
            claims = self._verify(token)
            self._verified[token] = claims
            if len(self._verified) > self.VERIFIED_CACHE:
                self._verified.popitem(last=False)
        if self._clock.now() >= claims.expires_at:
            raise Unauthenticated("The access token has expired.", code="token_expired")
        return claims

    def _verify(self, token: str) -> AccessClaims:
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=[ALGORITHM],
                issuer=ISSUER,
                # Time is judged in decode() by the injected clock only: PyJWT's own iat check uses the
                # wall clock and would refuse tokens minted by a clock (or instance) slightly ahead.
                options={"verify_exp": False, "verify_iat": False,
                         "require": ["exp", "sub", "typ", "iss"]},
            )
            subject = uuid.UUID(claims["sub"])
            session_id = uuid.UUID(claims["sid"]) if "sid" in claims else None
            exp = int(claims["exp"])
        except (jwt.PyJWTError, ValueError, TypeError, KeyError):
            raise Unauthenticated("The access token is invalid.", code="invalid_token") from None
        return AccessClaims(
            subject=subject,
            kind=str(claims["typ"]),
            session_id=session_id,
            expires_at=datetime.fromtimestamp(exp, tz=timezone.utc),
            extra={k: v for k, v in claims.items() if k not in {"sub", "typ", "sid", "exp", "iat", "iss", "jti"}},
        )
