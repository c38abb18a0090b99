"""Commerce routes: checkout, orders, payments, refunds (routes.py) and subscriptions (subscriptions.py)."""
