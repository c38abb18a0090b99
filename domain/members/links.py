"""Sign-in links handed out directly rather than emailed: ``hubwire demo`` prints one per demo
member so that a newcomer can open the member app at once. The link is an ordinary magic link
(``/hubs/<slug>/login?token=…``, single use, trades for a member token at
``/api/v1/contact-auth/verify``); only who receives it differs.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from domain.context import Ctx
from domain.identity.tokens import random_secret, sha256_hex
from domain.members.login import MAGIC_LINK_TTL, TOKEN_PREFIX, with_token
from persistence.ids import new_id
from persistence.models import Hub, MagicLinkToken


async def sign_in_link(ctx: Ctx, hub: Hub, contact_id: uuid.UUID, *, public_url: str,
                       ttl: timedelta = MAGIC_LINK_TTL) -> str:
    """A new single-use sign-in link for ``contact_id`` to ``hub``, valid for ``ttl``."""
    now = ctx.now()
    secret = random_secret(TOKEN_PREFIX)
    ctx.uow.session.add(MagicLinkToken(id=new_id(), contact_id=contact_id, hub_id=hub.id, token_hash=sha256_hex(secret),
                                       redirect_url=None, created_at=now, expires_at=now + ttl))
    await ctx.uow.session.flush()
    return with_token(f"{public_url.rstrip('/')}/hubs/{hub.slug}/login", secret)
