"""Evidence files: content-addressed (sha256) on disk, written once, never overwritten."""

from __future__ import annotations

import hashlib
import os
import tempfile
from fnmatch import fnmatch
from pathlib import Path

# Why: files are photos, screenshots and PDFs from a phone; a bigger upload is a mistake.
MAX_BYTES = 25 * 1024 * 1024

_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"%PDF-", "application/pdf"),
    (b"PK\x03\x04", "application/zip"),
)


_KNOWN = {media for _, media in _MAGIC} | {"image/webp", "image/jpg"}


def sniff(content: bytes) -> str | None:
    """Return the media type the content's first bytes show (None when unknown)."""
    for magic, media in _MAGIC:
        if content.startswith(magic):
            return media
    if content[:4] == b"RIFF" and content[8:12] == b"WEBP":
        return "image/webp"
    return None


def media_type_of(content: bytes, declared: str) -> str:
    """Return the media type to store: what the content shows, else what was declared."""
    found = sniff(content)
    if found and not (found == "application/zip" and declared.startswith("application/vnd.")):
        return found
    claimed = declared.strip().lower()
    if claimed in _KNOWN:
        # It says it is a kind we can recognise, and its bytes are not: don't believe it.
        return "application/octet-stream"
    return claimed or "application/octet-stream"


def accepts(media_type: str, patterns: list[str]) -> bool:
    """Tell whether a media type fits one of the patterns (`image/*`); none means any."""
    return not patterns or any(fnmatch(media_type, p) for p in patterns)


class BlobStore:
    """Files by content address under one directory: `ab/cd/<sha256>`."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    def path(self, sha256: str) -> Path:
        """Return where the file with this digest lives."""
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def put(self, content: bytes) -> str:
        """Store content once (atomic write, never overwriting); return its sha256."""
        digest = hashlib.sha256(content).hexdigest()
        target = self.path(digest)
        if target.exists():
            return digest
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=target.parent, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(content)
                out.flush()
                os.fsync(out.fileno())
            if target.exists():  # another writer stored the same bytes meanwhile
                os.unlink(temp)
            else:
                os.replace(temp, target)
        except BaseException:
            if os.path.exists(temp):
                os.unlink(temp)
            raise
        return digest

    def get(self, sha256: str) -> bytes:
        """Return the stored content of a digest."""
        return self.path(sha256).read_bytes()
