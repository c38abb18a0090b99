"""The stages of a team contact's lifecycle, a vocabulary of the CRM: team contacts take one
(``domain/crm/contacts.py``) and segments match on it (``domain/crm/segment_sql.py``)."""

from __future__ import annotations

LIFECYCLE_STAGES = ("lead", "customer", "member", "alumni")
