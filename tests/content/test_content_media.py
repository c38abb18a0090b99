"""Media: streamed uploads with size and type limits read from the bytes (a 0-byte file, one over
the limit refused without storing it, an extension that lies, markup refused, a path-traversal
name), a checksum, folders, downloads with Range (first bytes, suffix, open end, invalid → 416),
Content-Type and Content-Disposition; another team's files are 404; members' signed links expire,
are bound to one file and are re-checked by the access evaluator."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from server.app import create_app
from tests.support.api import assert_error, doc
from tests.support.backends import make_settings
from tests.support.content import Studio, open_studio, uid

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8
PDF = b"%PDF-1.7\n" + b"x" * 3000


async def upload(client: Any, studio: Studio, name: str, data: bytes, ctype: str = "application/octet-stream",
                 **fields: str) -> Any:
    return await client.post(f"{studio.t}/files", files={"file": (name, data, ctype)}, data=fields,
                             headers=studio.staff.headers)


def stored(app: Any) -> set[Path]:
    root = app.state.services.media.root
    return {p for p in root.rglob("*") if p.is_file()} if root.exists() else set()


async def test_upload_read_and_download(client: Any, app: Any, studio: Studio) -> None:
    r = await upload(client, studio, "diagram.png", PNG, "image/png")
    assert r.status_code == 201, r.text
    f = r.json()["data"]
    a = f["attributes"]
    assert (a["filename"], a["content_type"], a["size"], a["checksum_sha256"]) == (
        "diagram.png", "image/png", len(PNG), hashlib.sha256(PNG).hexdigest())
    assert f["links"]["download"] == f"{studio.t}/files/{f['id']}/download"
    r = await client.get(f["links"]["download"], headers=studio.staff.headers)
    assert r.status_code == 200 and r.content == PNG
    assert r.headers["content-type"] == "image/png" and r.headers["accept-ranges"] == "bytes"
    assert r.headers["content-disposition"].startswith('attachment; filename="diagram.png"')
    text = await upload(client, studio, "notes día.txt", "héllo wörld\n".encode(), "text/plain")
    r = await client.get(text.json()["data"]["links"]["download"], headers=studio.staff.headers)
    assert r.text == "héllo wörld\n"
    assert "filename*=UTF-8''notes%20d%C3%ADa.txt" in r.headers["content-disposition"]


async def test_refused_uploads_store_nothing(client: Any, app: Any, studio: Studio,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(app.state.services, "media_max_bytes", 4096)
    before = stored(app)
    for name, data, status, code in (
        ("empty.txt", b"", 422, "empty_file"),
        ("big.pdf", PDF + b"y" * 2000, 413, "file_too_large"),
        ("report.pdf", PNG, 422, "type_mismatch"),
        ("photo.png", PDF, 422, "type_mismatch"),
        ("logo.svg", b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', 415,
         "unsupported_file_type"),
        ("page.txt", b"<!DOCTYPE html><html><script>alert(1)</script></html>", 415, "unsupported_file_type"),
        ("bin.dat", b"\x00\x01\x02\x03" * 50, 415, "unsupported_file_type"),
    ):
        assert_error(await upload(client, studio, name, data), status, code)
    assert stored(app) == before
    assert (await client.get(f"{studio.t}/files", headers=studio.staff.headers)).json()["data"] == []
    r = await client.post(f"{studio.t}/files", json={"file": "x"}, headers=studio.staff.headers)
    assert_error(r, 415, "unsupported_media_type")
    r = await client.post(f"{studio.t}/files", files={"other": ("a.txt", b"hi", "text/plain")},
                          headers=studio.staff.headers)
    assert_error(r, 422, "unknown_field")
    r = await client.post(f"{studio.t}/files", data={"folder_id": uid()}, files={"file": ("a.txt", b"hi")},
                          headers=studio.staff.headers)
    assert_error(r, 404, "not_found")
    assert stored(app) == before



@pytest.fixture
async def capped(tmp_path: Path, database_url: str, redis_prefix: str) -> AsyncIterator[tuple[Any, Any]]:
    """An app whose files may be 2048 bytes: its upload bodies, 2048 + 64 KiB of envelope."""
    app = create_app(make_settings(tmp_path, database_url, redis_prefix, HUBWIRE_MEDIA_MAX_BYTES="2048"))
    async with AsyncTestClient(app, base_url="http://testserver.local") as c:
        yield app, c


def multipart_body(boundary: str, data: bytes, epilogue: bytes = b"") -> bytes:
    return (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\n"
            f"Content-Type: text/plain\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode() + epilogue


async def test_an_upload_body_over_the_limit_is_refused_413_and_stores_nothing(capped: tuple[Any, Any]) -> None:
    app, client = capped
    assert app.state.services.settings.max_upload_body_bytes == 2048 + 64 * 1024
    studio = await open_studio(client)
    files = f"{studio.t}/files"
    ctype = {"Content-Type": "multipart/form-data; boundary=b0undary", **studio.staff.headers}
    text = b"notes\n" * 100  # 600 bytes: a file the media limit accepts
    # Bytes after the closing boundary are no part of the form, but they are read: the body's own
    # limit stops them, when its Content-Length says so and when it says less than what comes
    form = multipart_body("b0undary", text)
    padded = multipart_body("b0undary", text, epilogue=b"z" * (70 * 1024))
    for announced in (len(padded), len(form)):
        r = await client.post(files, content=padded, headers={**ctype, "Content-Length": str(announced)})
        assert_error(r, 413, "payload_too_large")
    assert stored(app) == set()
    assert (await client.get(files, headers=studio.staff.headers)).json()["data"] == []
    # the media limit keeps its meaning inside the body's: a file over it is file_too_large
    assert_error(await upload(client, studio, "big.txt", b"y" * 3000, "text/plain"), 413, "file_too_large")
    assert stored(app) == set()
    r = await client.post(files, content=form, headers=ctype)
    assert r.status_code == 201, r.text
    assert r.json()["data"]["attributes"]["size"] == len(text) and len(stored(app)) == 1


async def test_a_path_traversal_name_stays_a_name(client: Any, app: Any, studio: Studio, tmp_path: Path) -> None:
    r = await upload(client, studio, "../../../../etc/evil.txt", b"just text", "text/plain")
    assert r.status_code == 201, r.text
    assert r.json()["data"]["attributes"]["filename"] == "evil.txt"
    root = app.state.services.media.root
    for p in stored(app):
        assert root in p.parents and "evil" not in p.name
    r = await upload(client, studio, "..\\..\\win.txt", b"x", "text/plain")
    assert r.json()["data"]["attributes"]["filename"] == "win.txt"


async def test_range_requests(client: Any, studio: Studio) -> None:
    data = bytes(range(256)) * 40  # binary: the zip header makes it a zip
    body = b"PK\x03\x04" + data
    f = (await upload(client, studio, "archive.zip", body)).json()["data"]
    url, size = f["links"]["download"], len(body)
    for header, start, end in (("bytes=0-9", 0, 9), ("bytes=-5", size - 5, size - 1), ("bytes=10000-", 10000, size - 1),
                               ("bytes=100-999999", 100, size - 1), ("bytes=-999999", 0, size - 1)):
        r = await client.get(url, headers={**studio.staff.headers, "Range": header})
        assert r.status_code == 206, (header, r.status_code)
        assert r.content == body[start:end + 1]
        assert r.headers["content-range"] == f"bytes {start}-{end}/{size}"
        assert r.headers["content-length"] == str(end - start + 1)
    for header in ("bytes=20000-", "bytes=50-10", "bytes=-0", "items=0-1", "bytes=0-1,5-6", "bytes=x-y"):
        r = await client.get(url, headers={**studio.staff.headers, "Range": header})
        assert (r.status_code, r.headers["content-range"], r.content) == (416, f"bytes */{size}", b""), header
    etag = (await client.get(url, headers=studio.staff.headers)).headers["etag"]
    r = await client.get(url, headers={**studio.staff.headers, "Range": "bytes=0-3", "If-Range": '"stale"'})
    assert (r.status_code, len(r.content)) == (200, size)
    r = await client.get(url, headers={**studio.staff.headers, "Range": "bytes=0-3", "If-Range": etag})
    assert (r.status_code, r.content) == (206, body[:4])


async def test_folders_and_another_teams_files(client: Any, studio: Studio) -> None:
    async def folder(name: str, parent: str | None = None) -> dict[str, Any]:
        r = await client.post(f"{studio.t}/folders", json=doc("folders", {"name": name, "parent_id": parent}),
                              headers=studio.wh)
        assert r.status_code == 201, r.text
        return dict(r.json()["data"])

    course = await folder("Course files")
    week1 = await folder("Week 1", course["id"])
    f = (await upload(client, studio, "a.pdf", PDF, folder_id=week1["id"])).json()["data"]
    assert f["attributes"]["folder_id"] == week1["id"]
    r = await client.get(f"{studio.t}/files", params={"filter[folder_id]": week1["id"]}, headers=studio.staff.headers)
    assert [x["id"] for x in r.json()["data"]] == [f["id"]]
    r = await client.patch(f"{studio.t}/folders/{course['id']}", json=doc("folders", {"parent_id": week1["id"]}),
                           headers=studio.wh)
    assert_error(r, 422, "cycle", "/data/attributes/parent_id")
    r = await client.patch(f"{studio.t}/files/{f['id']}", headers=studio.wh, json=doc(
        "files", {"filename": "Week 1 notes.pdf", "metadata": {"pages": 3}}))
    assert r.status_code == 200 and r.json()["data"]["attributes"]["filename"] == "Week 1 notes.pdf"
    r = await client.patch(f"{studio.t}/files/{f['id']}", headers=studio.wh, json=doc("files", {"filename": "x.png"}))
    assert_error(r, 422, "type_mismatch", "/data/attributes/filename")
    assert (await client.delete(f"{studio.t}/folders/{week1['id']}", headers=studio.staff.headers)).status_code == 204
    r = await client.get(f"{studio.t}/files/{f['id']}", headers=studio.staff.headers)
    assert r.json()["data"]["attributes"]["folder_id"] == course["id"]

    stranger = await open_studio(client)
    for url in (f"{stranger.t}/files/{f['id']}", f"{stranger.t}/files/{f['id']}/download",
                f"{stranger.t}/folders/{course['id']}"):
        assert_error(await client.get(url, headers=stranger.staff.headers), 404, "not_found")
    assert_error(await client.get(f"{studio.t}/files/{f['id']}", headers=stranger.staff.headers), 404, "not_found")
    assert_error(await upload(client, stranger, "a.txt", b"hi", folder_id=course["id"]), 404, "not_found")
    assert_error(await upload(client, stranger, "a.txt", b"hi", hub_id=studio.hub.id), 404, "not_found")
    assert (await client.delete(f"{studio.t}/files/{f['id']}", headers=studio.staff.headers)).status_code == 204
    assert_error(await client.get(f"{studio.t}/files/{f['id']}/download", headers=studio.staff.headers), 404,
                 "not_found")


async def test_members_get_signed_links_the_evaluator_guards(client: Any, clock: Any, studio: Studio,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    f = (await upload(client, studio, "guide.pdf", PDF, hub_id=studio.hub.id)).json()["data"]
    other = (await upload(client, studio, "other.pdf", PDF + b"2", hub_id=studio.hub.id)).json()["data"]
    unshared = (await upload(client, studio, "staff.pdf", PDF)).json()["data"]
    learner = await studio.learner(client)
    r = await client.get(f"{studio.h}/files/{f['id']}/link", headers=learner.headers)
    assert r.status_code == 200, r.text
    url = r.json()["data"]["attributes"]["url"]
    r = await client.get(url)  # no token
    assert (r.status_code, r.content, r.headers["content-type"]) == (200, PDF, "application/pdf")
    r = await client.get(url, headers={"Range": "bytes=0-4"})
    assert (r.status_code, r.content) == (206, b"%PDF-")
    assert_error(await client.get(url.replace(f["id"], other["id"])), 403, "invalid_signature")
    assert_error(await client.get(url.replace("signature=", "signature=x")), 403, "invalid_signature")
    assert_error(await client.get(f"/api/v1/media/{f['id']}"), 403, "invalid_signature")
    assert_error(await client.get(f"{studio.h}/files/{unshared['id']}/link", headers=learner.headers), 404,
                 "not_found")

    now = clock.now()
    monkeypatch.setattr(clock, "now", lambda: now + timedelta(minutes=6))
    assert_error(await client.get(url), 403, "link_expired")
    monkeypatch.undo()

    await studio.rule_on("media", f["id"], ("has_entitlement", {"kind": "file_download", "target_id": f["id"]}),
                         client=client)
    assert_error(await client.get(url), 403, "missing_entitlement")  # the link was minted before the rule
    assert_error(await client.get(f"{studio.h}/files/{f['id']}/link", headers=learner.headers), 403,
                 "missing_entitlement")
    ent = await studio.entitle(client, learner, "file_download", f["id"])
    r = await client.get(f"{studio.h}/files/{f['id']}/link", headers=learner.headers)
    fresh = r.json()["data"]["attributes"]["url"]
    assert (await client.get(fresh)).content == PDF
    r = await client.post(f"{studio.hub.url}/entitlements/{ent['id']}/revoke",
                          json=doc("entitlement_revocations", {"reason": "refund"}), headers=studio.wh)
    assert r.status_code == 200, r.text
    assert_error(await client.get(fresh), 403, "missing_entitlement")
