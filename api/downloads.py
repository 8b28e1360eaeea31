"""Headers of a stored file sent back: always a download, never content a browser runs.

`Content-Disposition: attachment` makes a browser save the file instead of showing it
on the server's origin; `X-Content-Type-Options: nosniff` keeps it from guessing
another type than the one sent; the sandbox policy keeps anything opened anyway
inert. The file name goes in both forms RFC 6266 gives: `filename` (ASCII, quoted;
other characters as `_`) for old clients and `filename*` (UTF-8, percent-encoded).
"""

from __future__ import annotations

import unicodedata
from urllib.parse import quote

# Why: a header value stays short whatever name a client uploaded.
MAX_NAME = 200


def ascii_name(name: str) -> str:
    """Return a file name in safe ASCII for a quoted string: accents dropped (`é` is
    `e`), any other character that is not printable ASCII, `"` or `\\` made `_`."""
    kept = (
        c if " " <= c <= "~" and c not in '"\\' else "_"
        for c in unicodedata.normalize("NFKD", name)
        if not unicodedata.combining(c)
    )
    return "".join(kept).strip() or "file"


def download_headers(name: str) -> dict[str, str]:
    """Return the headers that send a stored file as a download named `name`."""
    clean = "".join(c for c in name if unicodedata.category(c)[0] != "C")[:MAX_NAME] or "file"
    disposition = (
        f"attachment; filename=\"{ascii_name(clean)}\"; filename*=UTF-8''{quote(clean, safe='')}"
    )
    return {
        "Content-Disposition": disposition,
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox",
    }


__all__ = ["MAX_NAME", "ascii_name", "download_headers"]
