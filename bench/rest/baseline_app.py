"""The bare baseline of bench/rest.py: one Litestar JSON route and nothing else.

``GET /json`` answers a small JSON:API-shaped document (no database, no auth) with the same
uvicorn settings as ``hubwire serve``.

    python bench/rest/baseline_app.py --port 8201
"""

from __future__ import annotations

import argparse

from litestar import Litestar, get

BODY = {"data": [{"type": "things", "id": str(i), "attributes": {"name": f"Thing {i}", "n": i}} for i in range(5)],
        "links": {"self": "/json", "next": None}}


@get("/json")
async def things() -> dict:
    return BODY


def create_app() -> Litestar:
    return Litestar(route_handlers=[things])


if __name__ == "__main__":
    import os
    import sys

    import uvicorn

    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    uvicorn.run("baseline_app:create_app", factory=True, host=args.host, port=args.port, workers=1,
                log_level="warning", proxy_headers=False, timeout_graceful_shutdown=10)
