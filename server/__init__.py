"""The edge: Litestar app factory, routes per context (server/api), background jobs, auth, JSON:API
codec, error mapping, CLI."""
