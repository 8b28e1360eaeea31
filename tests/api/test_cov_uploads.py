"""More refused uploads of `POST /api/v1/definitions/validate`, each a 400 saying why."""

from __future__ import annotations

import io
import json
import stat
import zipfile
from collections.abc import Callable
from typing import Any

from tests.api.conftest import Api

MakeApi = Callable[..., Api]

URL = "/api/v1/definitions/validate"


def _send(api: Any, **kw: Any) -> Any:
    return api.client.post(URL, headers=api.headers("admin"), **kw)


def _refused(api: Any, **kw: Any) -> str:
    answer = _send(api, **kw)
    assert answer.status_code == 400, answer.text
    return str(answer.json()["detail"])


def _zip(entries: list[tuple[zipfile.ZipInfo | str, str]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for info, text in entries:
            archive.writestr(info, text)
    return buffer.getvalue()


def test_a_zip_refuses_symbolic_links_and_skips_folders(make_api: MakeApi) -> None:
    api = make_api()
    link = zipfile.ZipInfo("forms/lead.yaml")
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    upload = {"file": ("b.zip", _zip([(link, "/etc/passwd")]), "application/zip")}
    assert _refused(api, files=upload) == "bad upload: 'forms/lead.yaml' is a symbolic link"
    folder_only = _zip([("forms/", ""), ("forms/notes.txt", "x")])
    assert _refused(api, files={"file": ("b.zip", folder_only, "application/zip")}) == (
        "bad upload: the upload holds no definition files (.yaml, .yml)"
    )


def test_json_files_in_a_multipart_field_are_read(make_api: MakeApi) -> None:
    api = make_api()
    files = {"files": json.dumps({"files": {"bundle.yaml": "kind: bundle\nversion: 1\n"}})}
    answer = _send(api, files={"files": (None, files["files"])})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["ok"], body["files"]) == (False, 1)
    assert body["errors"] >= 1


def test_names_that_cannot_be_unpacked_are_refused(make_api: MakeApi) -> None:
    api = make_api()
    long_name = "a" * 296 + ".yaml"  # 301 characters
    assert _refused(api, json={"files": {long_name: "x"}}) == (
        f"bad upload: '{long_name[:80]}' is too long (300 characters, 200 bytes a part)"
    )
    clash = {"a.yaml": "x", "a.yaml/b.yaml": "y"}
    assert _refused(api, json={"files": clash}) == (
        "bad upload: 'a.yaml' is both a file and a folder of the upload"
    )
    many = {f"f{i}.yaml": "x" for i in range(1001)}
    assert _refused(api, json={"files": many}) == "bad upload: more than 1000 definition files"
