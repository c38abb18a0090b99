"""TokenService keeps the claims of tokens it verified (a client sends the same token with every
request): what it kept must change nothing a caller can observe — an expired token is refused at
the same second, a forged one is never kept, and the cache stays bounded."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from domain.clock import FrozenClock
from domain.errors import Unauthenticated
from domain.identity.tokens import TokenService


def service(clock: FrozenClock, key: str = "k" * 40) -> TokenService:
    return TokenService(key, clock, timedelta(minutes=15))


def test_a_kept_token_still_expires_at_its_second() -> None:
    clock = FrozenClock()
    tokens = service(clock)
    subject = uuid.uuid4()
    token, expires = tokens.issue(subject=subject, kind="member", hub="h1")
    first = tokens.decode(token)
    assert first.subject == subject and first.extra == {"hub": "h1"}
    assert tokens.decode(token) is first  # the second use is the kept claims
    clock.advance(seconds=(expires - clock.now()).total_seconds() - 1)
    assert tokens.decode(token).subject == subject
    clock.advance(seconds=1)
    with pytest.raises(Unauthenticated) as refused:
        tokens.decode(token)
    assert refused.value.code == "token_expired"


def test_a_forged_or_foreign_token_is_refused_every_time_and_never_kept() -> None:
    clock = FrozenClock()
    ours, theirs = service(clock), service(clock, key="x" * 40)
    token, _ = theirs.issue(subject=uuid.uuid4(), kind="staff")
    header, payload, signature = token.split(".")
    tampered = ".".join([header, payload, signature[:-2] + ("AA" if signature[-2:] != "AA" else "BB")])
    for bad in (token, tampered, "not-a-token"):
        for _ in range(2):
            with pytest.raises(Unauthenticated) as refused:
                ours.decode(bad)
            assert refused.value.code == "invalid_token"
    assert len(ours._verified) == 0


def test_the_kept_claims_are_bounded() -> None:
    clock = FrozenClock()
    tokens = service(clock)
    issued = [tokens.issue(subject=uuid.uuid4(), kind="member")[0] for _ in range(TokenService.VERIFIED_CACHE + 10)]
    for token in issued:
        tokens.decode(token)
    assert len(tokens._verified) == TokenService.VERIFIED_CACHE
    assert issued[0] not in tokens._verified and issued[-1] in tokens._verified
    assert tokens.decode(issued[0]).kind == "member"  # verified again when it comes back
