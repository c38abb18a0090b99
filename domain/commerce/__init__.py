"""Commerce: checkout and orders, payments and refunds, subscriptions, the payment provider protocol
(``providers.py``), and the provider's events as received, matched to orders and applied by a worker
(``provider_events.py``, ``matching.py``, ``provider_event_worker.py``, ``provider_event_handlers.py``)."""
