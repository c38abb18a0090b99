"""Commerce: the Stripe stand-in, our Stripe wrapper, webhooks and the provider-event worker."""
