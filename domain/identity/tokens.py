"""Short-lived JWT access tokens and opaque refresh/API-key secrets."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import uuid
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
    """Signs and checks access tokens. Expiry is judged by the injected clock, not the wall clock."""

    def __init__(self, secret_key: str, clock: Clock, access_ttl: timedelta) -> None:
        self._key = secret_key
        self._clock = clock
        self.access_ttl = access_ttl

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
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=[ALGORITHM],
                issuer=ISSUER,
                # Time is judged below by the injected clock only: PyJWT's own iat check uses the
                # wall clock and would refuse tokens minted by a clock (or instance) slightly ahead.
                options={"verify_exp": False, "verify_iat": False,
                         "require": ["exp", "sub", "typ", "iss"]},
            )
            subject = uuid.UUID(claims["sub"])
            session_id = uuid.UUID(claims["sid"]) if "sid" in claims else None
            exp = int(claims["exp"])
        except (jwt.PyJWTError, ValueError, TypeError, KeyError):
            raise Unauthenticated("The access token is invalid.", code="invalid_token") from None
        if self._clock.now().timestamp() >= exp:
            raise Unauthenticated("The access token has expired.", code="token_expired")
        return AccessClaims(
            subject=subject,
            kind=str(claims["typ"]),
            session_id=session_id,
            expires_at=datetime.fromtimestamp(exp, tz=timezone.utc),
            extra={k: v for k, v in claims.items() if k not in {"sub", "typ", "sid", "exp", "iat", "iss", "jti"}},
        )
