"""API fixtures: an app per test on SQLite or PostgreSQL (its own schema), and tokens."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from api.app import create_app
from api.server import Server
from runtime.access import create_token
from runtime.clock import FakeClock
from tests.runtime.conftest import backend, db_url  # noqa: F401  (fixtures shared with the store tests)

REPO = Path(__file__).resolve().parents[2]
DEFINITIONS = REPO / "definitions"


@dataclass
class Api:
    """A running app (TestClient) with a token per user, on a copy of a bundle folder."""

    app: Litestar
    client: TestClient[Litestar]
    directory: Path
    clock: FakeClock
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def server(self) -> Server:
        server: Server = self.app.state.server
        return server

    def token(self, user: str) -> str:
        """Return (making it once) a token for `user`."""
        if user not in self.tokens:
            server = self.server
            assert server.bundle is not None
            _, self.tokens[user] = create_token(server.store, server.bundle, user, self.clock.now())
        return self.tokens[user]

    def headers(self, user: str) -> dict[str, str]:
        """Return the Authorization header of `user`."""
        return {"Authorization": f"Bearer {self.token(user)}"}

    def call(self, method: str, path: str, user: str, **kw: Any) -> Any:
        """Send a request as `user`; return the httpx response."""
        return self.client.request(method, path, headers=self.headers(user), **kw)


@pytest.fixture
def make_api(
    db_url: tuple[str, str | None],  # noqa: F811
    tmp_path: Path,
) -> Iterator[Callable[..., Api]]:
    """Yield a factory: make_api(bundle=DEFINITIONS, **Config flags) -> Api (closed after)."""
    opened: list[Api] = []

    def make(bundle: Path = DEFINITIONS, **flags: Any) -> Api:
        url, schema = db_url
        directory = tmp_path / f"definitions{len(opened)}"
        shutil.copytree(bundle, directory)
        clock = FakeClock()
        settings = {
            "database_url": url,
            "database_schema": schema,
            "evidence_dir": tmp_path / "evidence",
            "mailbox_dir": tmp_path / "mailbox",
            "background": False,
            "watch": False,
            **flags,
        }
        app = create_app(directory, clock=clock, **settings)
        client = TestClient(app)
        client.__enter__()
        api = Api(app, client, directory, clock)
        opened.append(api)
        return api

    yield make
    for api in opened:
        api.client.__exit__(None, None, None)
