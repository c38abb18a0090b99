"""Media: a team's files and folders, uploaded as a stream and served with Range requests.

- **Uploads** are never held whole in memory: the edge feeds the multipart body, chunk by chunk,
  into an :class:`Upload`, which writes to the media store (:class:`MediaStore`, local disk under
  the data directory by default), hashes (SHA-256) and counts as it goes. Past the size limit it
  stops and the partial bytes are thrown away (413 ``file_too_large``, nothing stored); an empty
  file is 422 ``empty_file``.
- **The type comes from the bytes** (magic numbers), not the name: an unknown or refused type is
  415 ``unsupported_file_type`` (SVG and HTML are refused: they can carry script); a name whose
  extension says another type than the bytes is 422 ``type_mismatch``. The stored name is the
  last path component, cleaned (no ``..``, separators or control characters); the bytes are kept
  under a key made from the file's id, never from its name.
- **Members** get a signed URL valid for a few minutes (:func:`sign`), bound to one file and one
  contact: the download checks the signature, the expiry and the access evaluator again (target
  ``media``: the hub's rules, the file's own, ``file_download`` entitlements), so a revoked member
  cannot use a link they kept.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import unicodedata
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Protocol

import sqlalchemy as sa

from domain.access.facts import Subject
from domain.access.service import check, refuse_unless_allowed
from domain.catalog.products import check_metadata
from domain.context import Ctx
from domain.errors import DomainError, Forbidden, NotFound, ValidationFailed
from domain.identity.members import MemberPrincipal
from domain.teams.service import TeamContext
from persistence.db import UnitOfWork
from persistence.ids import new_id, parse_id
from persistence.models import Hub, MediaFile, MediaFolder
from persistence.pagination import Page, PageRequest, paginate

DEFAULT_MAX_BYTES = 100 * 1024 * 1024
SIGNED_URL_TTL = timedelta(minutes=5)
HEAD_BYTES = 512
MAX_NAME = 255

# extension -> the type its bytes must have
EXTENSIONS = {
    "png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg", "gif": "image/gif", "webp": "image/webp",
    "pdf": "application/pdf", "mp4": "video/mp4", "m4a": "audio/mp4", "mp3": "audio/mpeg", "zip": "application/zip",
    "txt": "text/plain", "md": "text/plain", "csv": "text/plain",
}
REFUSED_EXTENSIONS = frozenset({"svg", "svgz", "html", "htm", "xhtml", "js", "mjs", "xml"})


class FileTooLarge(DomainError):
    kind = "payload_too_large"
    code = "file_too_large"
    title = "File too large"


class UnsupportedFileType(DomainError):
    kind = "unsupported_media_type"
    code = "unsupported_file_type"
    title = "Unsupported file type"


def sniff(head: bytes) -> str | None:
    """The type of a file from its first bytes, or None when it is none of the accepted ones."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    if head[4:8] == b"ftyp":
        return "audio/mp4" if head[8:11] == b"M4A" else "video/mp4"
    if head.startswith(b"ID3") or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0):
        return "audio/mpeg"
    if head.startswith(b"PK\x03\x04"):
        return "application/zip"
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:  # a multi-byte character cut at the end of the head is fine
        if exc.start < len(head) - 3:
            return None
        text = head[:exc.start].decode("utf-8")
    lowered = text.lstrip().lower()
    if "\x00" in text or lowered.startswith(("<svg", "<?xml", "<!doctype", "<html", "<script")) or "<svg" in lowered:
        return None  # markup can carry script: refused
    return "text/plain"


def clean_filename(raw: str | None) -> str:
    """The last path component of ``raw``, without control characters, ``..`` or separators; ``file``
    when nothing is left."""
    name = unicodedata.normalize("NFC", raw or "")
    name = re.split(r"[\\/]", name)[-1]
    name = "".join(c for c in name if unicodedata.category(c)[0] != "C").strip().strip(".")
    name = name.replace("..", ".")
    return (name or "file")[:MAX_NAME]


def _extension(name: str) -> str:
    return name.rsplit(".", 1)[1].lower() if "." in name else ""


class MediaWriter(Protocol):
    async def write(self, chunk: bytes) -> None: ...
    async def commit(self) -> None: ...
    async def abort(self) -> None: ...


class MediaStore(Protocol):
    """Where the bytes live (server/integrations/media_store.py)."""

    def writer(self, key: str) -> MediaWriter: ...
    def read(self, key: str, start: int, end: int) -> AsyncIterator[bytes]: ...  # end inclusive
    async def delete(self, key: str) -> None: ...


class Upload:
    """One file part being received: written through, hashed and counted chunk by chunk."""

    def __init__(self, store: MediaStore, *, filename: str | None, max_bytes: int) -> None:
        self.id = new_id()
        self.key = f"files/{self.id.hex[:2]}/{self.id.hex}"
        self.filename = clean_filename(filename)
        self.max_bytes = max_bytes
        self.size = 0
        self.head = b""
        self.content_type: str | None = None
        self._hash = hashlib.sha256()
        self._writer = store.writer(self.key)
        self.finished = False

    async def feed(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > self.max_bytes:
            raise FileTooLarge(f"A file is at most {self.max_bytes} bytes.", meta={"max_bytes": self.max_bytes})
        if len(self.head) < HEAD_BYTES:
            self.head += chunk[:HEAD_BYTES - len(self.head)]
            if len(self.head) >= HEAD_BYTES:
                self._check_type()
        self._hash.update(chunk)
        await self._writer.write(chunk)

    def _check_type(self) -> None:
        if self.content_type is not None:
            return
        ext = _extension(self.filename)
        sniffed = sniff(self.head)
        if sniffed is None or ext in REFUSED_EXTENSIONS:
            raise UnsupportedFileType("This type of file is not accepted (its bytes say what it is).",
                                      meta={"accepted": sorted(set(EXTENSIONS.values()))})
        if ext in EXTENSIONS and EXTENSIONS[ext] != sniffed:
            raise ValidationFailed(f"The name says .{ext} but the bytes are {sniffed}.", code="type_mismatch",
                                   field="file", meta={"detected": sniffed})
        self.content_type = sniffed

    async def finish(self) -> None:
        if self.size == 0:
            raise ValidationFailed("The file is empty.", code="empty_file", field="file")
        self._check_type()
        self.finished = True

    @property
    def checksum(self) -> str:
        return self._hash.hexdigest()

    async def commit(self) -> None:
        await self._writer.commit()

    async def abort(self) -> None:
        await self._writer.abort()


# ---- files ------------------------------------------------------------------------------------------


async def find_file(uow: UnitOfWork, team_id: uuid.UUID, file_id: uuid.UUID | None) -> MediaFile:
    f = await uow.session.get(MediaFile, file_id) if file_id else None
    if f is None or f.team_id != team_id or f.deleted_at is not None:
        raise NotFound("No file of this team has this id.")
    return f


async def list_files(ctx: Ctx, team: TeamContext, page: PageRequest, *, folder: str | None = None) -> Page[MediaFile]:
    stmt = sa.select(MediaFile).where(MediaFile.team_id == team.team_id, MediaFile.deleted_at.is_(None))
    if folder is not None:
        if folder == "root":
            stmt = stmt.where(MediaFile.folder_id.is_(None))
        else:
            fid = parse_id(folder)
            if fid is None:
                raise ValidationFailed("filter[folder_id] is a folder id or `root`.", code="invalid_filter",
                                       parameter="filter[folder_id]")
            stmt = stmt.where(MediaFile.folder_id == fid)
    return await paginate(ctx.uow.session, stmt, MediaFile.id, page)


async def record_upload(ctx: Ctx, team: TeamContext, upload: Upload, fields: Mapping[str, str]) -> MediaFile:
    """The file row of a finished upload, with ``folder_id`` and ``hub_id`` from the form (the
    team's, else 404 naming the part)."""
    folder = await _folder_ref(ctx.uow, team.team_id, fields.get("folder_id"))
    hub_id = await _hub_ref(ctx.uow, team.team_id, fields.get("hub_id"))
    now = ctx.now()
    f = MediaFile(id=upload.id, team_id=team.team_id, hub_id=hub_id, folder_id=folder, filename=upload.filename,
                  content_type=upload.content_type or "application/octet-stream", size=upload.size,
                  checksum_sha256=upload.checksum, storage_key=upload.key, meta={}, created_at=now, updated_at=now)
    ctx.uow.session.add(f)
    await ctx.uow.session.flush()
    return f


async def update_file(ctx: Ctx, team: TeamContext, f: MediaFile, changes: Mapping[str, Any]) -> MediaFile:
    """``filename`` (cleaned; its extension must still fit the bytes), ``folder_id``, ``hub_id``,
    ``metadata``."""
    if "filename" in changes:
        name = changes["filename"]
        if not isinstance(name, str) or not name.strip():
            raise ValidationFailed("filename is text.", code="invalid_filename", field="filename")
        cleaned = clean_filename(name)
        ext = _extension(cleaned)
        if ext in REFUSED_EXTENSIONS or (ext in EXTENSIONS and EXTENSIONS[ext] != f.content_type):
            raise ValidationFailed(f"The name says .{ext} but the file is {f.content_type}.", code="type_mismatch",
                                   field="filename")
        f.filename = cleaned
    if "folder_id" in changes:
        f.folder_id = await _folder_ref(ctx.uow, team.team_id, changes["folder_id"])
    if "hub_id" in changes:
        f.hub_id = await _hub_ref(ctx.uow, team.team_id, changes["hub_id"])
    if "metadata" in changes:
        f.meta = check_metadata(changes["metadata"])
    f.updated_at = ctx.now()
    await ctx.uow.session.flush()
    return f


async def delete_file(ctx: Ctx, f: MediaFile) -> None:
    """Soft delete: 404 from now on, signed links included."""
    f.deleted_at = f.updated_at = ctx.now()
    await ctx.uow.session.flush()


# ---- folders ----------------------------------------------------------------------------------------


async def find_folder(uow: UnitOfWork, team_id: uuid.UUID, folder_id: uuid.UUID | None,
                      field: str | None = None) -> MediaFolder:
    folder = await uow.session.get(MediaFolder, folder_id) if folder_id else None
    if folder is None or folder.team_id != team_id or folder.deleted_at is not None:
        raise NotFound("No folder of this team has this id.", field=field)
    return folder


async def list_folders(ctx: Ctx, team: TeamContext, page: PageRequest) -> Page[MediaFolder]:
    stmt = sa.select(MediaFolder).where(MediaFolder.team_id == team.team_id, MediaFolder.deleted_at.is_(None))
    return await paginate(ctx.uow.session, stmt, MediaFolder.id, page)


async def create_folder(ctx: Ctx, team: TeamContext, fields: Mapping[str, Any]) -> MediaFolder:
    now = ctx.now()
    folder = MediaFolder(team_id=team.team_id, name=_folder_name(fields.get("name")),
                         parent_id=await _folder_ref(ctx.uow, team.team_id, fields.get("parent_id"), "parent_id"),
                         created_at=now, updated_at=now)
    ctx.uow.session.add(folder)
    await ctx.uow.session.flush()
    return folder


async def update_folder(ctx: Ctx, team: TeamContext, folder: MediaFolder, changes: Mapping[str, Any]) -> MediaFolder:
    if "name" in changes:
        folder.name = _folder_name(changes["name"])
    if "parent_id" in changes:
        parent = await _folder_ref(ctx.uow, team.team_id, changes["parent_id"], "parent_id")
        cursor = parent
        while cursor is not None:
            if cursor == folder.id:
                raise ValidationFailed("A folder cannot go inside itself.", code="cycle", field="parent_id")
            cursor = (await find_folder(ctx.uow, team.team_id, cursor)).parent_id
        folder.parent_id = parent
    folder.updated_at = ctx.now()
    await ctx.uow.session.flush()
    return folder


async def delete_folder(ctx: Ctx, team: TeamContext, folder: MediaFolder) -> None:
    """Soft delete; its files and folders move up to its parent."""
    s = ctx.uow.session
    await s.execute(sa.update(MediaFile).where(MediaFile.folder_id == folder.id).values(folder_id=folder.parent_id))
    await s.execute(sa.update(MediaFolder).where(MediaFolder.parent_id == folder.id)
                    .values(parent_id=folder.parent_id))
    folder.deleted_at = folder.updated_at = ctx.now()
    await s.flush()


def _folder_name(value: Any) -> str:
    name = value.strip() if isinstance(value, str) else ""
    if not name or len(name) > 200 or "/" in name or "\\" in name:
        raise ValidationFailed("name is 1 to 200 characters, without slashes.", code="invalid_name", field="name")
    return name


async def _folder_ref(uow: UnitOfWork, team_id: uuid.UUID, raw: Any, field: str = "folder_id") -> uuid.UUID | None:
    if raw is None or raw == "":
        return None
    fid = parse_id(raw) if isinstance(raw, str) else None
    if fid is None:
        raise ValidationFailed(f"{field} is a folder id.", code="invalid_folder", field=field)
    return (await find_folder(uow, team_id, fid, field=field)).id


async def _hub_ref(uow: UnitOfWork, team_id: uuid.UUID, raw: Any) -> uuid.UUID | None:
    if raw is None or raw == "":
        return None
    hid = parse_id(raw) if isinstance(raw, str) else None
    found = hid and await uow.session.scalar(sa.select(Hub.id).where(Hub.id == hid, Hub.team_id == team_id,
                                                                     Hub.deleted_at.is_(None)))
    if not found:
        raise NotFound("No hub of this team has this id.", field="hub_id")
    return hid


# ---- members: signed links ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SignedLink:
    file: MediaFile
    contact_id: uuid.UUID
    expires: int  # unix seconds
    signature: str


def _mac(secret: bytes, file_id: uuid.UUID, contact_id: uuid.UUID, expires: int) -> str:
    digest = hmac.new(secret, f"media:{file_id}:{contact_id}:{expires}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


async def member_file(ctx: Ctx, member: MemberPrincipal, file_id: uuid.UUID | None) -> MediaFile:
    """A file of the member's hub they may view (the evaluator, target ``media``), else 404/403."""
    f = await ctx.uow.session.get(MediaFile, file_id) if file_id else None
    if f is None or f.hub_id != member.hub_id or f.deleted_at is not None:
        raise NotFound("No file of this hub has this id.")
    refuse_unless_allowed(await check(ctx, Subject.member(member.contact_id), "view", "media", f.id, member.hub_id))
    return f


async def sign(ctx: Ctx, member: MemberPrincipal, file_id: uuid.UUID | None, secret: bytes) -> SignedLink:
    f = await member_file(ctx, member, file_id)
    expires = int((ctx.now() + SIGNED_URL_TTL).timestamp())
    return SignedLink(f, member.contact_id, expires, _mac(secret, f.id, member.contact_id, expires))


async def open_signed(ctx: Ctx, file_id: uuid.UUID | None, contact: str | None, expires: str | None,
                      signature: str | None, secret: bytes) -> MediaFile:
    """The file a signed link names, when the signature fits this file, contact and expiry, the link
    has not expired and the evaluator still lets the contact view it; 403 ``invalid_signature`` /
    ``link_expired`` / the evaluator's reason, 404 for a deleted file."""
    contact_id = parse_id(contact or "")
    try:
        exp = int(expires or "")
    except ValueError:
        exp = -1
    if file_id is None or contact_id is None or exp < 0 or not signature or not hmac.compare_digest(
            _mac(secret, file_id, contact_id, exp), signature):
        raise Forbidden("This link is not valid for this file.", code="invalid_signature")
    if ctx.now().timestamp() >= exp:
        raise Forbidden("This link has expired: ask for a new one.", code="link_expired")
    f = await ctx.uow.session.get(MediaFile, file_id)
    if f is None or f.deleted_at is not None or f.hub_id is None:
        raise NotFound("No such file.")
    refuse_unless_allowed(await check(ctx, Subject.member(contact_id), "view", "media", f.id, f.hub_id))
    return f


def expires_at(link: SignedLink) -> datetime:
    return datetime.fromtimestamp(link.expires, tz=timezone.utc)
