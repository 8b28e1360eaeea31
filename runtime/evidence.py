"""Evidence files: content-addressed (sha256) on disk, written once, never overwritten.

What a file is comes from its bytes (magic numbers), not from its name or the type its
sender declared: a kind that lists media types takes only files whose bytes confirm one
of them, and never markup a browser would run (SVG, HTML, XML).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from fnmatch import fnmatch
from pathlib import Path

# Why: files are photos, screenshots and PDFs from a phone; a bigger upload is a mistake.
MAX_BYTES = 25 * 1024 * 1024

_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"II*\x00", "image/tiff"),
    (b"MM\x00*", "image/tiff"),
    (b"%PDF-", "application/pdf"),
    (b"PK\x03\x04", "application/zip"),
)
_KNOWN = {media for _, media in _MAGIC}
# ISO base media files (`....ftyp<brand>`): the brand says which still-image format.
_BRANDS = {
    b"heic": "image/heic",
    b"heix": "image/heic",
    b"heim": "image/heic",
    b"heis": "image/heic",
    b"mif1": "image/heif",
    b"msf1": "image/heif",
    b"avif": "image/avif",
    b"avis": "image/avif",
}
# Markup a browser runs (scripts, links, forms): never evidence where a kind lists types.
ACTIVE = {
    "image/svg+xml": "an SVG image, which can hold scripts",
    "text/html": "an HTML page",
    "application/xml": "an XML document",
}
# Why: browsers decide what a file is from about its first 512 bytes; twice that is ample.
_MARKUP_HEAD = 1024
# Declared types a sender may not have believed for bytes the sniffer does not recognise:
# those it would recognise, and those a browser would run.
_NOT_TAKEN = ("image/", "text/html", "xml", "javascript", "ecmascript")


@dataclass(frozen=True)
class Media:
    """What an upload is, as far as its bytes tell: the media type to store, whether
    the bytes confirm it (a magic number), and whether it is markup a browser runs."""

    type: str
    confirmed: bool
    declared: str = ""
    active: str | None = None


def sniff(content: bytes) -> str | None:
    """Return the media type the content's first bytes show (None when unknown)."""
    for magic, media in _MAGIC:
        if content.startswith(magic):
            return media
    if content[:4] == b"RIFF" and content[8:12] == b"WEBP":
        return "image/webp"
    if content[:2] == b"BM" and content[6:10] == b"\x00\x00\x00\x00" and len(content) > 26:
        return "image/bmp"
    if content[4:8] == b"ftyp" and content[8:12] in _BRANDS:
        return _BRANDS[content[8:12]]
    return None


def markup(content: bytes) -> str | None:
    """Return the type of markup the content is (SVG, HTML, XML), None when it is none.

    Like a browser, it reads past a byte-order mark and leading white space: content
    that then opens with `<` is markup, an SVG when it has an `<svg` element.
    """
    head = content[:_MARKUP_HEAD]
    text = head.decode("latin-1")
    for bom, codec in (
        (b"\xef\xbb\xbf", "utf-8"),
        (b"\xff\xfe", "utf-16-le"),
        (b"\xfe\xff", "utf-16-be"),
    ):
        if head.startswith(bom):
            text = head[len(bom) :].decode(codec, "ignore")
            break
    text = text.lstrip(" \t\r\n\f\x00").lower()
    if not text.startswith("<"):
        return None
    if "<svg" in text:
        return "image/svg+xml"
    return "application/xml" if text.startswith("<?xml") else "text/html"


def read_media(content: bytes, declared: str) -> Media:
    """Return what an upload is: its bytes decide; the declared type is kept only for
    bytes the sniffer does not recognise, and then only if it claims no type the
    sniffer knows and nothing a browser would run (else `application/octet-stream`)."""
    claimed = declared.partition(";")[0].strip().lower()  # parameters (charset) dropped
    found = sniff(content)
    if found == "application/zip" and claimed.startswith("application/vnd."):
        return Media(claimed, True, claimed)  # an office document is a zip
    if found:
        return Media(found, True, claimed)
    active = markup(content)
    if active:
        return Media(active, False, claimed, ACTIVE[active])
    if not claimed or claimed in _KNOWN or any(part in claimed for part in _NOT_TAKEN):
        return Media("application/octet-stream", False, claimed)
    return Media(claimed, False, claimed)


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
