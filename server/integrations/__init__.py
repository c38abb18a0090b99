"""Third-party services the edge talks to, one thin module each (``stripe.py``: payments). The domain
sees them only through its own protocols (domain/commerce/providers.py)."""
