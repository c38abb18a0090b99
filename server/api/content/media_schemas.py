"""The JSON:API types of media: ``files`` (``links.download`` serves the bytes), ``folders``, and
``file_links`` (a member's signed, short-lived download URL)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import msgspec

from persistence.models import MediaFile, MediaFolder
from server.jsonapi import CreateData, Document, Inbound, Links, ListDocument, Resource, UpdateData

UNSET = msgspec.UNSET
Unset = msgspec.UnsetType


class FileLinks(Links, omit_defaults=True):
    download: str | None = None


class FileAttributes(msgspec.Struct, kw_only=True):
    filename: str
    content_type: str
    size: int
    checksum_sha256: str
    folder_id: str | None
    hub_id: str | None
    metadata: dict[str, Any]
    created_at: datetime
    updated_at: datetime


class FileUpdate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    filename: str | Unset = UNSET
    folder_id: str | None | Unset = UNSET
    hub_id: str | None | Unset = UNSET
    metadata: dict[str, Any] | Unset = UNSET


class FilesResource(Resource):
    type: Literal["files"]
    attributes: FileAttributes
    links: FileLinks | None = None  # type: ignore[assignment]


class FilesDocument(Document):
    data: FilesResource


class FilesListDocument(ListDocument):
    data: list[FilesResource]


class FilesUpdateData(UpdateData):
    type: Literal["files"]
    attributes: FileUpdate


class FilesUpdateDocument(Inbound):
    data: FilesUpdateData


def file_resource(f: MediaFile) -> FilesResource:
    base = f"/api/v1/teams/{f.team_id}/files/{f.id}"
    return FilesResource(type="files", id=str(f.id), attributes=FileAttributes(
        filename=f.filename, content_type=f.content_type, size=f.size, checksum_sha256=f.checksum_sha256,
        folder_id=str(f.folder_id) if f.folder_id else None, hub_id=str(f.hub_id) if f.hub_id else None,
        metadata=f.meta, created_at=f.created_at, updated_at=f.updated_at),
        links=FileLinks(self=base, download=f"{base}/download"))


class FolderAttributes(msgspec.Struct, kw_only=True):
    name: str
    parent_id: str | None
    created_at: datetime
    updated_at: datetime


class FolderCreate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    name: str
    parent_id: str | None = None


class FolderUpdate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    name: str | Unset = UNSET
    parent_id: str | None | Unset = UNSET


class FoldersResource(Resource):
    type: Literal["folders"]
    attributes: FolderAttributes


class FoldersDocument(Document):
    data: FoldersResource


class FoldersListDocument(ListDocument):
    data: list[FoldersResource]


class FoldersCreateData(CreateData):
    type: Literal["folders"]
    attributes: FolderCreate


class FoldersCreateDocument(Inbound):
    data: FoldersCreateData


class FoldersUpdateData(UpdateData):
    type: Literal["folders"]
    attributes: FolderUpdate


class FoldersUpdateDocument(Inbound):
    data: FoldersUpdateData


def folder_resource(f: MediaFolder) -> FoldersResource:
    return FoldersResource.of(f.id, FolderAttributes(
        name=f.name, parent_id=str(f.parent_id) if f.parent_id else None, created_at=f.created_at,
        updated_at=f.updated_at), self_link=f"/api/v1/teams/{f.team_id}/folders/{f.id}")


class FileLinkAttributes(msgspec.Struct, kw_only=True):
    file_id: str
    filename: str
    content_type: str
    size: int
    url: str
    expires_at: datetime


class FileLinksResource(Resource):
    type: Literal["file_links"]
    attributes: FileLinkAttributes


class FileLinksDocument(Document):
    data: FileLinksResource


def file_link_resource(f: MediaFile, url: str, expires_at: datetime) -> FileLinksResource:
    return FileLinksResource.of(f.id, FileLinkAttributes(
        file_id=str(f.id), filename=f.filename, content_type=f.content_type, size=f.size, url=url,
        expires_at=expires_at))
