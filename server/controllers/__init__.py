"""Route handlers, one module per context. Each reads like a table of contents: parse, call, answer."""
