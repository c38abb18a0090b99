"""What every use case works with besides its own arguments, passed one way everywhere.

A use-case function — one a route, the CLI or a background job calls (``start_discussion``,
``ban_member``, ``start_checkout``) — takes a ``Ctx`` first, then who acts and on what, then its
own arguments (options keyword-only)::

    async def start_discussion(ctx: Ctx, member: MemberPrincipal, space_id: UUID | None,
                               fields: Mapping[str, Any]) -> Discussion: ...

Inside, ``ctx.uow`` is the unit of work (the session, and ``after_commit`` / ``publish`` for side
effects that leave only after commit), ``ctx.now()`` the injected time, ``ctx.access`` the access
evaluator's facts cache and ``ctx.limiter`` the rate limiter. Helpers below the use cases take only
what they use (a unit of work, a ``now``); the pure evaluator takes plain values.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from domain.clock import Clock
from persistence.db import UnitOfWork

if TYPE_CHECKING:
    from domain.access.cache import FactsCache


class Limiter(Protocol):
    """A fixed-window rate limiter (in memory or Redis, ``server/ratelimit.py``): ``hit`` counts
    ``cost`` events under ``key`` and answers a verdict (``allowed``, ``retry_after``) for
    ``limit`` events per ``window`` seconds."""

    async def hit(self, key: str, limit: int, window: int, *, cost: int = 1) -> Any: ...


@dataclass(frozen=True, slots=True)
class Ctx:
    """The collaborators of one request or job: built by the edge (``server/deps.py``) or by the
    job that runs the use case."""

    uow: UnitOfWork
    clock: Clock
    access: FactsCache
    limiter: Limiter

    def now(self) -> datetime:
        return self.clock.now()
