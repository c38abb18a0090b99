"""Routes: inbound payment-provider webhooks, and the team's view of the events received."""
