"""The CRM tests (contacts, tags and attributes, segments) share no fixtures beyond the root
conftest's; their helpers are in tests/support/crm.py."""
