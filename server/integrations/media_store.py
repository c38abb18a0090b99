"""The media store on local disk (the default): files under ``<data dir>/media/``, written to a
temporary name and renamed into place on commit, so a failed or refused upload leaves nothing
behind. Implements ``domain.content.media.MediaStore``. Keys come from file ids (never from
names) and are checked to stay inside the root."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

CHUNK = 256 * 1024


class LocalWriter:
    def __init__(self, final: Path) -> None:
        self.final = final
        self.tmp = final.parent.parent.parent / "tmp" / f"{uuid.uuid4().hex}.part"
        self._file: object | None = None

    def _open(self) -> object:
        if self._file is None:
            self.tmp.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(self.tmp, "wb")  # noqa: SIM115 (closed in commit/abort)
        return self._file

    async def write(self, chunk: bytes) -> None:
        self._open().write(chunk)  # type: ignore[attr-defined]

    async def commit(self) -> None:
        f = self._open()
        f.close()  # type: ignore[attr-defined]
        self.final.parent.mkdir(parents=True, exist_ok=True)
        await asyncio.to_thread(os.replace, self.tmp, self.final)

    async def abort(self) -> None:
        if self._file is not None:
            self._file.close()  # type: ignore[attr-defined]
        self.tmp.unlink(missing_ok=True)


class LocalMediaStore:
    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if self.root not in path.parents:
            raise ValueError(f"media key outside the store: {key!r}")
        return path

    def writer(self, key: str) -> LocalWriter:
        return LocalWriter(self.path(key))

    async def read(self, key: str, start: int, end: int) -> AsyncIterator[bytes]:
        """Bytes ``start`` to ``end`` (inclusive), in chunks."""
        with open(self.path(key), "rb") as f:  # noqa: ASYNC230 (local reads of 256 KiB)
            f.seek(start)
            left = end - start + 1
            while left > 0:
                chunk = f.read(min(CHUNK, left))
                if not chunk:
                    break
                left -= len(chunk)
                yield chunk

    async def delete(self, key: str) -> None:
        self.path(key).unlink(missing_ok=True)

    def exists(self, key: str) -> bool:
        return self.path(key).exists()
