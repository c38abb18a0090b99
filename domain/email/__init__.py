"""Email: the durable outbox, the transports (SMTP, or ``.eml`` files), and the worker that sends."""
