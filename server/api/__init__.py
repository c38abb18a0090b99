"""The HTTP and WebSocket routes, one package per context: routes.py (controllers) and schemas.py (types and mappers)."""
