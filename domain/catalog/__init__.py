"""Catalog: what a team sells and what each hub shows.

- ``products.py``: products (name, description, image, metadata; archived with ``active`` false,
  soft-deleted only while no order names one of their prices)
- ``prices.py``: a product's prices (amount in minor units, currency, one-time or recurring);
  amount, currency, type and interval never change once created, as at Stripe
- ``deliverables.py``: what buying a product delivers (entitlements of a kind on a target, or a tag)
- ``displays.py``: which products a hub's catalog shows, in what order, which featured
- ``coupons.py``: discounts (Stripe's names), codes matched case-insensitively, scoped to products
- ``storefront.py``: the member side, ``H/catalog``: what a member of a hub may buy there
- ``fields.py``: the field rules the modules above share (currencies, amounts, names, ids)

Commerce (``domain/commerce``) reads this context to sell: a checkout takes a price the storefront
would show (``storefront.sellable_price``).
"""
