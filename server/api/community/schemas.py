"""The community's types and mappers, one module per area (each under ~600 lines):

- ``spaces_schemas``: ``spaces``, ``space_members``
- ``discussions_schemas``: ``discussions``, ``comments``, ``removals``, the feed query
- ``messages_schemas``: ``conversations``, ``messages``, ``member_profiles``
- ``moderation_schemas``: ``reports``, ``moderation_reports``, ``report_resolutions``,
  ``moderation_audit_entries``

The route module of each area (``spaces.py``, ``discussions.py``, ``messages.py``,
``moderation.py``) imports from its own.
"""

from __future__ import annotations

from server.api.community import discussions_schemas, messages_schemas, moderation_schemas, spaces_schemas

__all__ = ["discussions_schemas", "messages_schemas", "moderation_schemas", "spaces_schemas"]
