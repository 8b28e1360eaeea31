"""Console fixtures: an app (tests/api's make_api) and a signed-in browser-like client."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from litestar.testing import TestClient

from runtime.sessions import set_password
from tests.api.conftest import Api, make_api  # noqa: F401  (the app factory)
from tests.runtime.conftest import backend, db_url  # noqa: F401

PASSWORD = "correct horse battery"
CSRF = re.compile(r'name="_csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    """Return the CSRF token a page's forms carry."""
    found = CSRF.search(html)
    assert found, "the page has no form carrying a CSRF token"
    return found.group(1)


def give_password(api: Api, user: str, password: str = PASSWORD) -> None:
    """Give `user` a console password."""
    assert api.server.bundle is not None
    set_password(api.server.store, api.server.bundle, user, password, api.clock.now())


def sign_in(client: TestClient[Any], user: str, password: str = PASSWORD) -> Any:
    """Sign `client` in through the form (as a browser would); return the answer."""
    form = client.get("/sign-in")
    return client.post(
        "/sign-in",
        data={"user": user, "password": password, "next": "/", "_csrf_token": csrf_of(form.text)},
        follow_redirects=False,
    )


@pytest.fixture
def console(make_api: Callable[..., Api]) -> Callable[..., tuple[Api, TestClient[Any]]]:  # noqa: F811
    """Return a factory: console(user) -> (api, a client signed in as `user`)."""

    def make(user: str | None = None, **flags: Any) -> tuple[Api, TestClient[Any]]:
        api = make_api(**flags)
        client = api.client
        if user is not None:
            give_password(api, user)
            answer = sign_in(client, user)
            assert answer.status_code == 303, answer.text
        return api, client

    return make
