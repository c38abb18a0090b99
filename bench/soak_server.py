"""``hubwire serve`` for bench/soak.py, plus one thing the soak needs to see from outside: the
number of asyncio tasks, written every second to the file named by SOAK_STATS. Not for production."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import server.app as app_module  # noqa: E402
from server import cli  # noqa: E402

_create_app = app_module.create_app
STATS = Path(os.environ["SOAK_STATS"])


def create_app(*args: Any, **kwargs: Any) -> Any:
    app = _create_app(*args, **kwargs)

    async def sample() -> None:
        while True:
            tmp = STATS.with_suffix(".tmp")
            tmp.write_text(json.dumps({"tasks": len(asyncio.all_tasks()), "at": time.time()}))
            tmp.replace(STATS)
            await asyncio.sleep(1.0)

    async def start(app_: Any) -> None:
        app_.state.soak_sampler = asyncio.get_running_loop().create_task(sample())

    app.on_startup.append(start)
    return app


app_module.create_app = create_app  # uvicorn resolves "server.app:create_app" after this
sys.exit(cli.main(sys.argv[1:]))
