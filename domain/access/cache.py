"""The per-process cache of access facts, and how it forgets them.

Kept per hub (:class:`~domain.access.loader.LoadedHub`: facts, content-node map, segment clauses)
and per (hub, contact) (:class:`~domain.access.facts.ContactFacts`), each in a bounded LRU
(defaults: 1,000 hubs, 10,000 contacts) with a time-to-live as a safety net.

Invalidation — ``facts_changed`` publishes a :class:`~domain.access.invalidation.FactsChanged` on
``access:invalidate`` after commit:

- **This instance** applies it before publishing (``Services.uow()`` wraps the unit of work's
  publisher with :meth:`FactsCache.publisher`), and the unit of work commits before the response
  is sent, so the request that made a change, and every later one here, never reads stale facts.
- **Other instances** receive it through the broker (:meth:`FactsCache.on_message`, subscribed at
  app start). Between the commit and that delivery — Redis pub/sub latency, typically well under
  a millisecond on a LAN, longer under load — another instance may still answer from the old
  facts. Redis pub/sub is at-most-once: a message sent while an instance is disconnected from
  Redis is lost to it, so entries also expire after ``ttl`` seconds (default 60), which bounds
  staleness after a Redis outage.
- **In-flight loads**: a load that began before an invalidation and ends after it may have read
  the old rows; every invalidation bumps a generation counter and such a load is returned to its
  caller but not stored (conservatively: any invalidation during a load skips storing it).

Scopes: ``hub_id`` alone drops the hub and all its contacts; ``hub_id`` + ``contact_id`` one
contact in one hub; ``team_id`` + ``contact_id`` that contact in every hub of the team (tags,
segments); ``team_id`` alone every hub of the team. A message that cannot be read clears everything.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable

import msgspec

from domain.access.facts import ContactFacts
from domain.access.invalidation import INVALIDATE_CHANNEL, FactsChanged, decoder
from domain.access.loader import LoadedHub, load_contact_facts, load_hub
from persistence.db import Publisher, UnitOfWork

log = logging.getLogger("hubwire.access")

HubLoader = Callable[[UnitOfWork, uuid.UUID], Awaitable[LoadedHub]]


class FactsCache:
    """Hub and contact facts of one process. Not thread-safe: one event loop owns it."""

    def __init__(self, *, max_hubs: int = 1_000, max_contacts: int = 10_000, ttl: float = 60.0,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.max_hubs, self.max_contacts, self.ttl = max_hubs, max_contacts, ttl
        self._now = monotonic
        self._hubs: OrderedDict[uuid.UUID, tuple[float, LoadedHub]] = OrderedDict()
        self._contacts: OrderedDict[tuple[uuid.UUID, uuid.UUID], tuple[float, ContactFacts]] = OrderedDict()
        self._hub_contacts: dict[uuid.UUID, set[uuid.UUID]] = {}  # hub -> cached contacts
        self._contact_hubs: dict[uuid.UUID, set[uuid.UUID]] = {}  # contact -> hubs cached for them
        self._team_of_hub: dict[uuid.UUID, uuid.UUID] = {}  # never changes; small (one per hub seen)
        self.generation = 0
        self.hits = self.misses = 0

    # ---- reading ---------------------------------------------------------------------------------

    async def hub(self, uow: UnitOfWork, hub_id: uuid.UUID) -> LoadedHub:
        """The hub's loaded facts, from the cache or loaded (see ``domain.access.loader``)."""
        entry = self._hubs.get(hub_id)
        if entry is not None and entry[0] > self._now():
            self._hubs.move_to_end(hub_id)
            self.hits += 1
            return entry[1]
        self.misses += 1
        generation = self.generation
        loaded = await load_hub(uow, hub_id)
        self._team_of_hub[hub_id] = loaded.facts.team_id
        if generation == self.generation:
            self._hubs[hub_id] = (self._now() + self.ttl, loaded)
            self._hubs.move_to_end(hub_id)
            while len(self._hubs) > self.max_hubs:
                self._hubs.popitem(last=False)
        return loaded

    async def contact(self, uow: UnitOfWork, hub: LoadedHub, contact_id: uuid.UUID) -> ContactFacts:
        """What the contact is and holds in ``hub``, from the cache or loaded."""
        key = (hub.facts.hub_id, contact_id)
        entry = self._contacts.get(key)
        if entry is not None and entry[0] > self._now():
            self._contacts.move_to_end(key)
            self.hits += 1
            return entry[1]
        self.misses += 1
        generation = self.generation
        facts = await load_contact_facts(uow, hub.facts, contact_id, segment_clauses=hub.segment_clauses)
        if generation == self.generation:
            self._contacts[key] = (self._now() + self.ttl, facts)
            self._contacts.move_to_end(key)
            self._hub_contacts.setdefault(key[0], set()).add(contact_id)
            self._contact_hubs.setdefault(contact_id, set()).add(key[0])
            while len(self._contacts) > self.max_contacts:
                old, _ = self._contacts.popitem(last=False)
                self._unindex(old)
        return facts

    def __len__(self) -> int:
        return len(self._contacts)

    # ---- forgetting ------------------------------------------------------------------------------

    def invalidate(self, change: FactsChanged) -> None:
        """Drop what ``change`` covers (see the module docstring for the scopes)."""
        self.generation += 1
        hub_id = _uuid(change.hub_id)
        team_id = _uuid(change.team_id)
        contact_id = _uuid(change.contact_id)
        if hub_id is not None:
            if contact_id is not None:
                self._drop_contact(hub_id, contact_id)
            else:
                self._drop_hub(hub_id)
        elif team_id is not None:
            if contact_id is not None:
                for h in list(self._contact_hubs.get(contact_id, ())):
                    if self._team_of_hub.get(h, team_id) == team_id:
                        self._drop_contact(h, contact_id)
            else:
                for h in [h for h, t in self._team_of_hub.items() if t == team_id]:
                    self._drop_hub(h)
        else:
            self.clear()

    def apply(self, payload: bytes) -> None:
        """Apply an ``access:invalidate`` payload; one that cannot be read clears everything."""
        try:
            change = decoder.decode(payload)
        except msgspec.DecodeError:
            log.warning("unreadable access invalidation %r: clearing the access cache", payload[:200])
            self.clear()
            return
        self.invalidate(change)

    async def on_message(self, channel: str, payload: bytes) -> None:
        """Broker handler for ``access:invalidate`` (changes made on other instances)."""
        self.apply(payload)

    def publisher(self, publish: Publisher) -> Publisher:
        """Wrap a unit of work's publisher: invalidations are applied here first, then published."""

        async def _publish(channel: str, payload: bytes) -> None:
            if channel == INVALIDATE_CHANNEL:
                self.apply(payload)
            await publish(channel, payload)

        return _publish

    def clear(self) -> None:
        self.generation += 1
        self._hubs.clear()
        self._contacts.clear()
        self._hub_contacts.clear()
        self._contact_hubs.clear()

    def _drop_hub(self, hub_id: uuid.UUID) -> None:
        self._hubs.pop(hub_id, None)
        for contact_id in list(self._hub_contacts.get(hub_id, ())):
            self._drop_contact(hub_id, contact_id)

    def _drop_contact(self, hub_id: uuid.UUID, contact_id: uuid.UUID) -> None:
        if self._contacts.pop((hub_id, contact_id), None) is not None:
            self._unindex((hub_id, contact_id))

    def _unindex(self, key: tuple[uuid.UUID, uuid.UUID]) -> None:
        hub_id, contact_id = key
        for index, outer, inner in ((self._hub_contacts, hub_id, contact_id), (self._contact_hubs, contact_id, hub_id)):
            members = index.get(outer)
            if members is not None:
                members.discard(inner)
                if not members:
                    del index[outer]


def _uuid(value: str | None) -> uuid.UUID | None:
    if value is None:
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        return None
