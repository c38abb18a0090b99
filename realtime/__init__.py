"""Channels, the wire protocol, the broker (in-process or Redis pub/sub), presence, history."""
