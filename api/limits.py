"""JSON bodies within bounds: a size cap, and nesting too deep to decode answered 400.

Litestar decodes a JSON body with msgspec when a handler asks for it. This request
class does the same after two checks: a body over `Config.max_json_bytes` is a 413
(before decoding), and a body nested deeper than msgspec decodes (about 1,000 levels,
where it raises RecursionError) is a 400 naming the cause, not a 500 with a traceback.
"""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.exceptions import HTTPException, ValidationException
from litestar.status_codes import HTTP_413_REQUEST_ENTITY_TOO_LARGE


class BoundedRequest(Request[Any, Any, Any]):
    """A request whose JSON body is size-capped and whose nesting fails as a 400."""

    async def json(self) -> Any:
        """Return the decoded JSON body (413 past the JSON cap, 400 when nested too deep)."""
        limit: int = self.app.state.server.config.max_json_bytes
        size = len(await self.body())
        if size > limit:
            message = f"a JSON body may hold at most {limit} bytes (this one has {size})"
            raise HTTPException(
                status_code=HTTP_413_REQUEST_ENTITY_TOO_LARGE,
                detail="the JSON body is too large",
                extra=[{"key": "", "message": message, "source": "body"}],
            )
        try:
            return await super().json()
        except RecursionError:
            message = "the JSON is nested too deeply to decode (about 1,000 levels or more)"
            raise ValidationException(
                "the JSON body is nested too deeply",
                extra=[{"key": "", "message": message, "source": "body"}],
            ) from None
