"""The creator's CRM: contacts, team contacts, tags, contact attributes, segments."""
