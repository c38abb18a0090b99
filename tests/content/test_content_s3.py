"""The S3-compatible media store against a real local server (moto in server mode): uploads larger
than one part go up as a multipart upload, are served with Range from the object store, through
signed links too; a refused upload leaves no object and no unfinished multipart upload; the
settings choose the store."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from aiobotocore.session import get_session

from server.integrations.s3_store import PART_SIZE, S3MediaStore
from server.services import media_store
from tests.support.api import assert_error
from tests.support.app import in_app
from tests.support.content import Studio
from tests.support.s3 import KEY_ID, REGION, SECRET, bucket_name, moto_server


@pytest.fixture(scope="module")
def s3_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with moto_server(tmp_path_factory.mktemp("moto") / "moto.log") as url:
        yield url


@pytest.fixture
async def s3(s3_endpoint: str, app: Any, client: Any,
             monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[tuple[Any, str]]:
    """An S3 client and a fresh bucket, with the app's media store pointed at it."""
    bucket = bucket_name()
    async with get_session().create_client("s3", endpoint_url=s3_endpoint, region_name=REGION,
                                           aws_access_key_id=KEY_ID, aws_secret_access_key=SECRET) as s3_client:
        await s3_client.create_bucket(Bucket=bucket)
        store = S3MediaStore(bucket, endpoint_url=s3_endpoint, region=REGION, access_key_id=KEY_ID,
                             secret_access_key=SECRET, prefix="media/")
        monkeypatch.setattr(app.state.services, "media", store)
        yield s3_client, bucket
    in_app(client, store.aclose)  # its S3 client lives on the app's loop


async def objects(client: Any, bucket: str) -> list[str]:
    answer = await client.list_objects_v2(Bucket=bucket)
    return [o["Key"] for o in answer.get("Contents", [])]


async def test_large_files_go_up_in_parts_and_come_back_in_ranges(client: Any, studio: Studio,
                                                                   s3: tuple[Any, str]) -> None:
    s3_client, bucket = s3
    body = b"%PDF-1.7\n" + bytes(range(256)) * ((PART_SIZE + 300_000) // 256)
    r = await client.post(f"{studio.t}/files", files={"file": ("big.pdf", body, "application/pdf")},
                          data={"hub_id": studio.hub.id}, headers=studio.staff.headers)
    assert r.status_code == 201, r.text
    f = r.json()["data"]
    assert (f["attributes"]["size"], f["attributes"]["checksum_sha256"]) == (len(body),
                                                                         hashlib.sha256(body).hexdigest())
    keys = await objects(s3_client, bucket)
    assert len(keys) == 1 and keys[0].startswith("media/files/") and f["id"].replace("-", "") in keys[0]
    head = await s3_client.head_object(Bucket=bucket, Key=keys[0])
    assert head["ContentLength"] == len(body)

    url = f["links"]["download"]
    r = await client.get(url, headers=studio.staff.headers)
    assert r.status_code == 200 and r.content == body
    for header, start, end in (("bytes=0-8", 0, 8), ("bytes=-100", len(body) - 100, len(body) - 1),
                               (f"bytes={PART_SIZE - 10}-{PART_SIZE + 10}", PART_SIZE - 10, PART_SIZE + 10)):
        r = await client.get(url, headers={**studio.staff.headers, "Range": header})
        assert (r.status_code, r.content) == (206, body[start:end + 1])
    r = await client.get(url, headers={**studio.staff.headers, "Range": f"bytes={len(body)}-"})
    assert r.status_code == 416

    learner = await studio.learner(client)
    link = (await client.get(f"{studio.h}/files/{f['id']}/link", headers=learner.headers)).json()
    r = await client.get(link["data"]["attributes"]["url"], headers={"Range": "bytes=0-4"})
    assert (r.status_code, r.content) == (206, b"%PDF-")


async def test_a_refused_upload_leaves_nothing_in_the_bucket(client: Any, app: Any, studio: Studio,
                                                             s3: tuple[Any, str],
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    s3_client, bucket = s3
    monkeypatch.setattr(app.state.services, "media_max_bytes", PART_SIZE + 1000)
    body = b"%PDF-1.7\n" + b"z" * (PART_SIZE + 5000)
    r = await client.post(f"{studio.t}/files", files={"file": ("big.pdf", body, "application/pdf")},
                          headers=studio.staff.headers)
    assert_error(r, 413, "file_too_large")
    assert await objects(s3_client, bucket) == []
    uploads = await s3_client.list_multipart_uploads(Bucket=bucket)
    assert uploads.get("Uploads", []) == []
    assert_error(await client.post(f"{studio.t}/files", files={"file": ("a.png", b"%PDF-1.7\n...")},
                                   headers=studio.staff.headers), 422, "type_mismatch")
    r = await client.post(f"{studio.t}/files", files={"file": ("small.txt", b"small")}, headers=studio.staff.headers)
    assert r.status_code == 201
    assert len(await objects(s3_client, bucket)) == 1


def test_the_settings_choose_the_store(settings: Any, tmp_path: Path) -> None:
    assert type(media_store(settings)).__name__ == "LocalMediaStore"
    store = media_store(replace(settings, media_s3_bucket="b", media_s3_endpoint_url="http://127.0.0.1:9",
                                media_s3_prefix="p/"))
    assert isinstance(store, S3MediaStore) and (store.bucket, store.prefix) == ("b", "p/")
