"""Routes: the community (docs/api.md), one module per area:

- ``spaces.py``: spaces, team side (``T/hubs/{hub_id}/spaces``) and member side (``H/spaces``)
- ``discussions.py``: discussions, comments and reactions (``H/spaces/{space_id}/discussions``,
  ``H/discussions``, ``H/comments``)
- ``messages.py``: direct messages and the member directory (``H/conversations``, ``H/members``)
- ``moderation.py``: reports (``H/reports``) and the team's queue and audit log
  (``T/hubs/{hub_id}/moderation``)
- ``moderation_items.py``: staff on a hub's content from the moderation console
  (``T/hubs/{hub_id}/moderation/discussions|comments|messages``)

The scheduler that publishes scheduled discussions runs in ``server/jobs.py``.
"""

from __future__ import annotations

from typing import Any

from server.api.community.discussions import (
    MemberCommentsController,
    MemberDiscussionsController,
    SpaceDiscussionsController,
)
from server.api.community.messages import ConversationsController, DirectoryController
from server.api.community.moderation import ModerationController, ReportsController
from server.api.community.moderation_items import ModerationItemsController
from server.api.community.spaces import MemberSpacesController, TeamSpacesController

ROUTES: list[Any] = [
    TeamSpacesController, MemberSpacesController, SpaceDiscussionsController, MemberDiscussionsController,
    MemberCommentsController, ConversationsController, DirectoryController, ReportsController, ModerationController,
    ModerationItemsController,
]
