"""The edge: Litestar app factory, controllers, auth, JSON:API codec, error mapping, CLI."""
