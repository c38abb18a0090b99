"""The web app's static files: read once at startup, served from memory under a versioned URL.

Every file is served at ``/static/v/<version>/<name>``, where the version is a hash of all the
files together (relative ``import`` between the ES modules keeps working, and any change makes
every URL new), with a year-long immutable cache; and at ``/static/<name>`` without a version
(for integrators who load ``hubwire-realtime.js`` from the server), revalidated on every use.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

STATIC_DIR = Path(__file__).parent / "static"
TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".json": "application/json",
}


@dataclass(frozen=True)
class Asset:
    name: str
    body: bytes
    media_type: str
    etag: str


@dataclass(frozen=True)
class Assets:
    version: str
    files: dict[str, Asset]

    @property
    def base(self) -> str:
        """The versioned URL prefix: ``/static/v/<version>``."""
        return f"/static/v/{self.version}"

    def url(self, name: str) -> str:
        if name not in self.files:
            raise KeyError(f"no static file {name!r}")
        return f"{self.base}/{name}"


def load_assets(directory: Path = STATIC_DIR) -> Assets:
    """Every file of ``directory`` (flat: the app's modules import each other as ``./name.js``)."""
    files: dict[str, Asset] = {}
    bundle = hashlib.sha256()
    for path in sorted(p for p in directory.iterdir() if p.is_file() and p.suffix in TYPES):
        body = path.read_bytes()
        digest = hashlib.sha256(body).hexdigest()
        files[path.name] = Asset(path.name, body, TYPES[path.suffix], f'"{digest[:20]}"')
        bundle.update(path.name.encode() + b"\0" + digest.encode())
    return Assets(bundle.hexdigest()[:12], files)
