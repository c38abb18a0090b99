"""Realtime: the gateway's transports (member and staff WebSockets, Server-Sent Events), presence and announcements."""
