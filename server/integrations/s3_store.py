"""The media store on an S3-compatible object store (the production option; AWS S3, MinIO, R2,
moto in the tests), through aiobotocore. Implements ``domain.content.media.MediaStore``.

Uploads go up as they arrive: parts of :data:`PART_SIZE` (S3's minimum is 5 MiB) through a
multipart upload, or one ``PutObject`` for a file smaller than one part, so at most one part is
held in memory per upload; ``abort`` cancels the multipart upload, so a refused file leaves
nothing. Downloads ask for exactly the byte range served (``Range`` on ``GetObject``) and stream
the answer.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import Any

from aiobotocore.session import get_session

PART_SIZE = 8 * 1024 * 1024
READ_CHUNK = 256 * 1024


class S3Writer:
    def __init__(self, store: S3MediaStore, key: str) -> None:
        self.store, self.key = store, store.prefix + key
        self.buffer = bytearray()
        self.upload_id: str | None = None
        self.parts: list[dict[str, Any]] = []

    async def write(self, chunk: bytes) -> None:
        self.buffer += chunk
        if len(self.buffer) >= PART_SIZE:
            await self._flush_part()

    async def _flush_part(self) -> None:
        client = await self.store.client()
        if self.upload_id is None:
            created = await client.create_multipart_upload(Bucket=self.store.bucket, Key=self.key)
            self.upload_id = created["UploadId"]
        number = len(self.parts) + 1
        answer = await client.upload_part(Bucket=self.store.bucket, Key=self.key, UploadId=self.upload_id,
                                          PartNumber=number, Body=bytes(self.buffer))
        self.parts.append({"PartNumber": number, "ETag": answer["ETag"]})
        self.buffer.clear()

    async def commit(self) -> None:
        client = await self.store.client()
        if self.upload_id is None:
            await client.put_object(Bucket=self.store.bucket, Key=self.key, Body=bytes(self.buffer))
            self.buffer.clear()
            return
        if self.buffer:
            await self._flush_part()
        await client.complete_multipart_upload(Bucket=self.store.bucket, Key=self.key, UploadId=self.upload_id,
                                               MultipartUpload={"Parts": self.parts})

    async def abort(self) -> None:
        self.buffer.clear()
        if self.upload_id is not None:
            client = await self.store.client()
            await client.abort_multipart_upload(Bucket=self.store.bucket, Key=self.key, UploadId=self.upload_id)
            self.upload_id = None


class S3MediaStore:
    def __init__(self, bucket: str, *, endpoint_url: str | None = None, region: str | None = None,
                 access_key_id: str | None = None, secret_access_key: str | None = None, prefix: str = "") -> None:
        self.bucket, self.prefix = bucket, prefix
        self._config = {"endpoint_url": endpoint_url, "region_name": region or "us-east-1",
                        "aws_access_key_id": access_key_id, "aws_secret_access_key": secret_access_key}
        self._stack: AsyncExitStack | None = None
        self._client: Any = None

    async def client(self) -> Any:
        """One client per store, opened on first use (closed by :meth:`aclose`)."""
        if self._client is None:
            stack = AsyncExitStack()
            self._client = await stack.enter_async_context(get_session().create_client("s3", **self._config))
            self._stack = stack
        return self._client

    async def aclose(self) -> None:
        if self._stack is not None:
            await self._stack.aclose()
        self._stack = self._client = None

    def writer(self, key: str) -> S3Writer:
        return S3Writer(self, key)

    async def read(self, key: str, start: int, end: int) -> AsyncIterator[bytes]:
        client = await self.client()
        answer = await client.get_object(Bucket=self.bucket, Key=self.prefix + key, Range=f"bytes={start}-{end}")
        async with answer["Body"] as body:
            async for chunk in body.iter_chunks(READ_CHUNK):
                yield chunk

    async def delete(self, key: str) -> None:
        client = await self.client()
        await client.delete_object(Bucket=self.bucket, Key=self.prefix + key)
