"""Hubwire's rules, one sub-package per bounded context. Never imports Litestar or knows about HTTP."""
