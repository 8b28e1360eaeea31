"""API users and tokens: every refusal at once, inactive users, revoked and foreign tokens."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from engine.bundle import Bundle
from engine.compiler.pipeline import compile_bundle
from runtime.access import (
    Principal,
    authenticate,
    create_token,
    create_user,
    resolve_user,
    revoke_token,
)
from runtime.errors import Conflict, Invalid, NotFound
from runtime.store import Store

BUNDLE = """kind: bundle
version: 1
name: access
timezone: UTC
roles: [rep, manager]
users:
  li.wei: {roles: [rep]}
  gone: {roles: [rep], active: false}
"""
NOW = datetime(2026, 1, 5, 9, 0)


@pytest.fixture
def bundle(tmp_path: Path) -> Bundle:
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "bundle.yaml").write_text(BUNDLE)
    compiled = compile_bundle(tmp_path / "b").bundle
    assert compiled is not None
    return compiled


def test_every_reason_a_user_cannot_be_created_is_given_at_once(
    store: Store, bundle: Bundle
) -> None:
    with pytest.raises(Invalid) as caught:
        create_user(store, bundle, "Li Wei", ["boss"], NOW)
    assert [p.code for p in caught.value.problems] == ["bad-user-id", "unknown-role"]
    assert caught.value.problems[1].message == (
        "unknown roles ['boss']; the bundle has manager, rep"
    )
    with pytest.raises(Invalid) as declared:
        create_user(store, bundle, "li.wei", [], NOW)
    assert [p.code for p in declared.value.problems] == ["declared-user", "no-roles"]
    create_user(store, bundle, "api.bot", ["manager"], NOW, name="Bot")
    with pytest.raises(Conflict) as again:  # a 409: the id is taken
        create_user(store, bundle, "api.bot", ["rep"], NOW)
    assert str(again.value) == "user 'api.bot' exists"
    assert [p.code for p in again.value.problems] == ["exists"]
    with pytest.raises(Invalid) as newline:  # `$` would let a trailing newline in
        create_user(store, bundle, "api.bot2\n", ["rep"], NOW)
    assert [p.code for p in newline.value.problems] == ["bad-user-id"]


def test_inactive_declared_users_and_unknown_users_resolve_to_nobody(
    store: Store, bundle: Bundle
) -> None:
    assert resolve_user(store, bundle, "gone") is None
    assert resolve_user(store, bundle, "nobody") is None
    assert resolve_user(store, bundle, "li.wei") == Principal("li.wei", frozenset({"rep"}), True)
    with pytest.raises(NotFound):
        create_token(store, bundle, "gone", NOW)


def test_an_api_user_keeps_only_roles_the_bundle_still_has(
    store: Store, bundle: Bundle, tmp_path: Path
) -> None:
    create_user(store, bundle, "api.bot", ["manager", "rep"], NOW)
    smaller = tmp_path / "smaller"
    smaller.mkdir()
    (smaller / "bundle.yaml").write_text(BUNDLE.replace("[rep, manager]", "[rep]", 1))
    reloaded = compile_bundle(smaller).bundle
    assert reloaded is not None
    assert resolve_user(store, reloaded, "api.bot") == Principal(
        "api.bot", frozenset({"rep"}), False
    )


def test_tokens_work_until_revoked_and_foreign_ones_never(
    store: Store, bundle: Bundle, tmp_path: Path
) -> None:
    token_id, token = create_token(store, bundle, "li.wei", NOW, name="laptop")
    who = authenticate(store, bundle, token)
    assert who == Principal("li.wei", frozenset({"rep"}), True, token_id)
    assert authenticate(store, bundle, token[4:]) is None  # not an sft_ token
    assert authenticate(store, bundle, token + "x") is None  # unknown token
    left = tmp_path / "left"
    left.mkdir()
    (left / "bundle.yaml").write_text(
        BUNDLE.replace("{roles: [rep]}\n  gone", "{roles: [rep], active: false}\n  gone")
    )
    without = compile_bundle(left).bundle
    assert without is not None
    assert authenticate(store, without, token) is None  # its user was made inactive
    revoke_token(store, token_id, NOW)
    assert authenticate(store, bundle, token) is None
    with pytest.raises(NotFound):
        revoke_token(store, token_id, NOW)  # already revoked
