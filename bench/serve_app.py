"""Start one server for the HTTP benchmarks: `python -m bench.serve_app KIND PORT [DIR DB]`.

KIND `hello`: a Litestar hello-world endpoint (GET /hello), the baseline.
KIND `sopflow`: sopflow's app on the bundle in DIR with a SQLite file DB; it prints
`token <value>` (a token for the first rep) on stdout before it starts serving.
Both run under uvicorn with uvloop and httptools, access logs off, as `sopflow serve`.
"""

from __future__ import annotations

import gc
import logging
import sys
from pathlib import Path
from typing import Any

import uvicorn
from litestar import Litestar, get


@get("/hello", sync_to_thread=False)
def hello() -> dict[str, str]:
    """The hello-world endpoint."""
    return {"hello": "world"}


def hello_app() -> Litestar:
    """The baseline app."""

    async def freeze(_: Litestar) -> None:
        gc.collect()
        gc.freeze()

    return Litestar([hello], logging_config=None, on_startup=[freeze])


def sopflow_app(directory: Path, db: Path, port: int) -> Any:
    """sopflow's app on `directory`, printing a token for `rep.000`."""
    from api.app import create_app  # noqa: PLC0415
    from api.config import Config  # noqa: PLC0415
    from runtime.access import create_token  # noqa: PLC0415

    config = Config.under(db.parent, directory=directory, database_url=f"sqlite:///{db}", port=port)
    app = create_app(config)
    server = app.state.server
    _, token = create_token(server.store, server.bundle, "rep.000", server.clock.now())
    print(f"token {token}", flush=True)
    return app


def main(argv: list[str]) -> None:
    """Serve until killed."""
    kind, port = argv[0], int(argv[1])
    logging.basicConfig(level=logging.WARNING)
    app = hello_app() if kind == "hello" else sopflow_app(Path(argv[2]), Path(argv[3]), port)
    print("serving", flush=True)
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        loop="uvloop",
        http="httptools",
    )


if __name__ == "__main__":
    main(sys.argv[1:])
