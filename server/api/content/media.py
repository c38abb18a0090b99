"""Routes: media (docs/api.md, "Media"; JSON:API types in ``media_schemas.py``).

Team side (``media:read`` / ``media:write``): ``T/files`` — upload as ``multipart/form-data`` with
the part ``file`` (and optional ``folder_id``, ``hub_id``), streamed to the media store, never
whole in memory — ``T/files/{id}/download`` (Range), and ``T/folders``. Members: ``H/files/{id}/link``
gives a signed URL valid for minutes, served without a token by ``/api/v1/media/{id}`` (Range), which
checks the signature, its expiry and the access evaluator again.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import msgspec
import multipart
from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.params import FromPath, JSONBody
from litestar.response import Stream
from litestar.status_codes import HTTP_204_NO_CONTENT

from domain.content import media
from domain.errors import DomainError, RangeNotSatisfiable, UnsupportedMediaType, ValidationFailed
from persistence.ids import parse_id
from persistence.models import MediaFile
from server.api.content.media_schemas import (
    FileLinksDocument,
    FilesDocument,
    FilesListDocument,
    FilesUpdateDocument,
    FoldersCreateDocument,
    FoldersDocument,
    FoldersListDocument,
    FoldersUpdateDocument,
    file_link_resource,
    file_resource,
    folder_resource,
)
from server.deps import Context, Member, TeamCtx
from server.jsonapi import check_document_id, jsonapi, parse_list_query, parse_query, present
from server.openapi import DownloadOperation, UploadOperation
from server.paths import HUB_PATH, TEAM_PATH

READ, WRITE = {"scope": "media:read"}, {"scope": "media:write"}
FORM_FIELDS = frozenset({"folder_id", "hub_id"})
MAX_FIELD = 100


def _services(request: Request[Any, Any, Any]) -> Any:
    return request.app.state.services


def _secret(request: Request[Any, Any, Any]) -> bytes:
    return hashlib.sha256(b"hubwire media links:" + _services(request).settings.secret_key.encode()).digest()


async def _receive(request: Request[Any, Any, Any]) -> tuple[media.Upload, dict[str, str]]:
    """Stream the multipart body into an upload; (the finished upload, the small form fields)."""
    ctype, options = multipart.parse_options_header(request.headers.get("content-type", ""))
    if ctype != "multipart/form-data" or not options.get("boundary"):
        raise UnsupportedMediaType("Upload as multipart/form-data with a part named `file`.")
    services = _services(request)
    parser = multipart.PushMultipartParser(options["boundary"], max_segment_count=8)
    upload: media.Upload | None = None
    fields: dict[str, str] = {}
    part: Any = None
    buffer = bytearray()
    try:
        async for chunk in request.stream():
            for event in parser.parse(chunk):
                if isinstance(event, multipart.MultipartSegment):
                    part, buffer = event, bytearray()
                    if event.name == "file":
                        if upload is not None:
                            raise ValidationFailed("Send one file per upload.", code="too_many_files", field="file")
                        upload = media.Upload(services.media, filename=event.filename,
                                              max_bytes=services.media_max_bytes)
                    elif event.name not in FORM_FIELDS:
                        raise ValidationFailed(f"Unknown part `{event.name}`; send file, folder_id, hub_id.",
                                               code="unknown_field", field=event.name)
                elif event is None:
                    if part.name == "file" and upload is not None:
                        await upload.finish()
                    else:
                        fields[part.name] = buffer.decode("utf-8", "replace").strip()
                elif part.name == "file" and upload is not None:
                    await upload.feed(event)
                else:
                    buffer += event
                    if len(buffer) > MAX_FIELD:
                        raise ValidationFailed(f"`{part.name}` is an id.", code="invalid_value", field=part.name)
        for _ in parser.parse(b""):
            pass
        if upload is None or not upload.finished:
            raise ValidationFailed("Send the file in a part named `file`.", code="missing_file", field="file")
        return upload, fields
    except multipart.MultipartError as exc:
        if upload is not None:
            await upload.abort()
        raise DomainError(f"The multipart body is malformed: {exc}", code="invalid_multipart") from None
    except BaseException:
        if upload is not None:
            await upload.abort()
        raise


def _range(header: str | None, size: int) -> tuple[int, int] | None:
    """(first, last) byte of a single ``bytes=`` range, None for the whole file; 416 otherwise."""
    if header is None:
        return None
    m = re.fullmatch(r"\s*bytes=(\d*)-(\d*)\s*", header)
    if m is None or (m.group(1) == "" and m.group(2) == ""):
        raise RangeNotSatisfiable("Send one range: bytes=first-last, bytes=first- or bytes=-suffix.",
                                  meta={"size": size})
    first, last = m.group(1), m.group(2)
    if first == "":
        n = int(last)
        if n == 0:
            raise RangeNotSatisfiable("An empty suffix range.", meta={"size": size})
        return max(0, size - n), size - 1
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or (last and int(last) < start):
        raise RangeNotSatisfiable("The range is outside the file.", meta={"size": size})
    return start, end


def _disposition(filename: str, inline: bool = False) -> str:
    fallback = re.sub(r'[^A-Za-z0-9._ -]', "_", filename) or "file"
    return f'{"inline" if inline else "attachment"}; filename="{fallback}"; filename*=UTF-8\'\'{quote(filename)}'


def serve(request: Request[Any, Any, Any], f: MediaFile) -> Response[Any]:
    """The file's bytes (or the range asked for), streamed from the store."""
    headers = {"Accept-Ranges": "bytes", "Content-Disposition": _disposition(f.filename),
               "ETag": f'"{f.checksum_sha256}"', "X-Content-Type-Options": "nosniff",
               "Cache-Control": "private, max-age=0"}
    try:
        span = _range(request.headers.get("range"), f.size)
    except RangeNotSatisfiable:
        if_range = request.headers.get("if-range")
        if if_range is not None and if_range != headers["ETag"]:
            span = None
        else:
            return Response(content=b"", status_code=416, headers={**headers, "Content-Range": f"bytes */{f.size}"})
    if span is not None and request.headers.get("if-range") not in (None, headers["ETag"]):
        span = None  # the client's copy changed: the whole file
    store = _services(request).media
    start, end = span if span is not None else (0, f.size - 1)

    async def body() -> AsyncIterator[bytes]:
        async for chunk in store.read(f.storage_key, start, end):
            yield chunk

    headers["Content-Length"] = str(end - start + 1)
    if span is not None:
        headers["Content-Range"] = f"bytes {start}-{end}/{f.size}"
    return Stream(body(), status_code=206 if span is not None else 200, media_type=f.content_type, headers=headers)


class FilesController(Controller):
    """``T/files``: the team's uploaded files."""

    path = TEAM_PATH + "/files"
    tags = ["media"]

    @get("/", opt=READ, summary="List the team's files (filter[folder_id]: a folder id or root)")
    async def list_files(self, request: Request[Any, Any, Any], team: TeamCtx,
                         ctx: Context) -> Response[FilesListDocument]:
        q = parse_list_query(request, frozenset({"folder_id"}))
        page = await media.list_files(ctx, team, q.page, folder=q.filters.get("folder_id"))
        return jsonapi(FilesListDocument.page(request, [file_resource(f) for f in page.items], page))

    # The whole body is bounded (HUBWIRE_MAX_UPLOAD_BODY, server/limits.py), the file inside it by
    # HUBWIRE_MEDIA_MAX_BYTES as it streams in (file_too_large).
    @post("/", opt={**WRITE, "body": "upload"}, operation_class=UploadOperation,
          summary="Upload a file: multipart/form-data, part `file` (+ folder_id, hub_id); streamed, type from the "
                  "bytes, 413 past the limit")
    async def upload(self, request: Request[Any, Any, Any], team: TeamCtx, ctx: Context) -> Response[FilesDocument]:
        upload, fields = await _receive(request)
        try:
            f = await media.record_upload(ctx, team, upload, fields)
            await upload.commit()
        except BaseException:
            await upload.abort()
            raise
        document = FilesDocument(data=file_resource(f))
        return jsonapi(document, 201, headers={"Location": f"/api/v1/teams/{team.team_id}/files/{f.id}"})

    @get("/{file_id:str}", opt=READ, summary="Read a file's metadata")
    async def get_file(self, file_id: FromPath[str], team: TeamCtx, ctx: Context) -> Response[FilesDocument]:
        return jsonapi(FilesDocument(data=file_resource(await media.find_file(ctx.uow, team.team_id,
                                                                              parse_id(file_id)))))

    @patch("/{file_id:str}", opt=WRITE, summary="Rename a file, move it to a folder, give it to a hub, set metadata")
    async def update_file(self, file_id: FromPath[str], data: JSONBody[FilesUpdateDocument], team: TeamCtx,
                          ctx: Context) -> Response[FilesDocument]:
        check_document_id(data.data.id, file_id)
        f = await media.find_file(ctx.uow, team.team_id, parse_id(file_id))
        f = await media.update_file(ctx, team, f, present(data.data.attributes))
        return jsonapi(FilesDocument(data=file_resource(f)))

    @delete("/{file_id:str}", opt=WRITE, status_code=HTTP_204_NO_CONTENT, summary="Delete a file (soft delete)")
    async def delete_file(self, file_id: FromPath[str], team: TeamCtx, ctx: Context) -> None:
        await media.delete_file(ctx, await media.find_file(ctx.uow, team.team_id, parse_id(file_id)))

    @get("/{file_id:str}/download", opt=READ, operation_class=DownloadOperation,
         summary="The file's bytes (Range: one range; 206, 416), Content-Type and Content-Disposition")
    async def download(self, request: Request[Any, Any, Any], file_id: FromPath[str], team: TeamCtx,
                       ctx: Context) -> Response[Any]:
        return serve(request, await media.find_file(ctx.uow, team.team_id, parse_id(file_id)))


class FoldersController(Controller):
    """``T/folders``: folders of files."""

    path = TEAM_PATH + "/folders"
    tags = ["media"]

    @get("/", opt=READ, summary="List the team's folders")
    async def list_folders(self, request: Request[Any, Any, Any], team: TeamCtx,
                           ctx: Context) -> Response[FoldersListDocument]:
        q = parse_list_query(request, allowed_filters=None)
        page = await media.list_folders(ctx, team, q.page)
        return jsonapi(FoldersListDocument.page(request, [folder_resource(f) for f in page.items], page))

    @post("/", opt=WRITE, summary="Create a folder")
    async def create_folder(self, data: JSONBody[FoldersCreateDocument], team: TeamCtx,
                            ctx: Context) -> Response[FoldersDocument]:
        folder = await media.create_folder(ctx, team, msgspec.structs.asdict(data.data.attributes))
        return jsonapi(FoldersDocument(data=folder_resource(folder)), 201)

    @get("/{folder_id:str}", opt=READ, summary="Read a folder")
    async def get_folder(self, folder_id: FromPath[str], team: TeamCtx, ctx: Context) -> Response[FoldersDocument]:
        return jsonapi(FoldersDocument(data=folder_resource(
            await media.find_folder(ctx.uow, team.team_id, parse_id(folder_id)))))

    @patch("/{folder_id:str}", opt=WRITE, summary="Rename or move a folder (422 cycle)")
    async def update_folder(self, folder_id: FromPath[str], data: JSONBody[FoldersUpdateDocument], team: TeamCtx,
                            ctx: Context) -> Response[FoldersDocument]:
        check_document_id(data.data.id, folder_id)
        folder = await media.find_folder(ctx.uow, team.team_id, parse_id(folder_id))
        folder = await media.update_folder(ctx, team, folder, present(data.data.attributes))
        return jsonapi(FoldersDocument(data=folder_resource(folder)))

    @delete("/{folder_id:str}", opt=WRITE, status_code=HTTP_204_NO_CONTENT,
            summary="Delete a folder (its files and folders move up to its parent)")
    async def delete_folder(self, folder_id: FromPath[str], team: TeamCtx, ctx: Context) -> None:
        folder = await media.find_folder(ctx.uow, team.team_id, parse_id(folder_id))
        await media.delete_folder(ctx, team, folder)


@get(HUB_PATH + "/files/{file_id:str}/link", opt={"access": "view"}, tags=["media"],
     summary="A signed download URL for a file of this hub, valid for minutes (the evaluator decides)")
async def member_file_link(request: Request[Any, Any, Any], file_id: FromPath[str], member: Member,
                           ctx: Context) -> Response[FileLinksDocument]:
    link = await media.sign(ctx, member, parse_id(file_id), _secret(request))
    url = (f"/api/v1/media/{link.file.id}?contact={link.contact_id}&expires={link.expires}"
           f"&signature={link.signature}")
    return jsonapi(FileLinksDocument(data=file_link_resource(link.file, url, media.expires_at(link))),
                   headers={"Cache-Control": "no-store"})


@get("/api/v1/media/{file_id:str}", tags=["media"], security=[], operation_class=DownloadOperation,
     summary="A file's bytes through a member's signed link, no token (Range); 403 when expired or not for this file")
async def signed_download(request: Request[Any, Any, Any], file_id: FromPath[str], ctx: Context) -> Response[Any]:
    q = parse_query(request, frozenset({"contact", "expires", "signature"}))
    f = await media.open_signed(ctx, parse_id(file_id), q.get("contact"), q.get("expires"), q.get("signature"),
                                _secret(request))
    return serve(request, f)


ROUTES: list[Any] = [FilesController, FoldersController, member_file_link, signed_download]
