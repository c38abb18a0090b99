"""The live side: channels, the wire protocol, the broker, and the gateway (see realtime/gateway.py for its parts)."""
