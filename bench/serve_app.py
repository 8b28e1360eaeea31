"""Start one server for the HTTP benchmarks: `python -m bench.serve_app KIND PORT [DIR DB]`.

KIND `hello`: a Litestar hello-world endpoint (GET /hello), the floor.
KIND `lead`: a hand-written Litestar app creating leads (POST /leads) in the SQLite file
DB, the baseline: `bench/lead_baseline.py`'s pydantic model, score and least-loaded pick,
one INSERT + COMMIT per request (`python -m bench.serve_app lead PORT DB`).
KIND `audited`: the same app also writing the rows sopflow keeps for a lead
(`bench/lead_baseline.py` `Audited`): a floor for sopflow's audit over HTTP.
KIND `sopflow`: sopflow's app on the bundle in DIR with a SQLite file DB; it prints
`token <value>` (a token for the first rep) on stdout before it starts serving.
All run under uvicorn with uvloop and httptools, access logs off, as `sopflow serve`.
"""

from __future__ import annotations

import gc
import logging
import sys
import threading
from pathlib import Path
from typing import Any

import uvicorn
from litestar import Litestar, Request, Response, get, post
from litestar.params import JSONBody
from litestar.status_codes import HTTP_201_CREATED, HTTP_422_UNPROCESSABLE_ENTITY
from pydantic import ValidationError


@get("/hello", sync_to_thread=False)
def hello() -> dict[str, str]:
    """The hello-world endpoint."""
    return {"hello": "world"}


async def _freeze(_: Litestar) -> None:
    gc.collect()
    gc.freeze()


def hello_app() -> Litestar:
    """The floor: an endpoint doing nothing."""
    return Litestar([hello], logging_config=None, on_startup=[_freeze])


def lead_app(db: Path, audited: bool = False) -> Litestar:
    """The hand-written lead app: validate, score, pick a rep, one INSERT + COMMIT.

    The store is a SQLite file opened as sopflow opens one (WAL, synchronous=NORMAL,
    BEGIN IMMEDIATE), holding the same `sf_record` table. The handler runs in a worker
    thread, as sopflow runs its runtime calls; one lock keeps the in-memory loads and
    the single SQLite writer consistent across those threads.
    """
    from bench import runtime_bundles as rb  # noqa: PLC0415
    from bench.lead_baseline import Audited, HandWritten  # noqa: PLC0415
    from runtime.store import Store  # noqa: PLC0415

    store = Store.open(f"sqlite:///{db}")
    leads = (Audited if audited else HandWritten)(store.engine, rb.reps())
    lock = threading.Lock()

    @post("/leads", status_code=HTTP_201_CREATED, sync_to_thread=True)
    def create_lead(data: JSONBody[dict[str, Any]]) -> dict[str, Any]:
        """Create a lead; 201 with its id, score and owner (or queue)."""
        with lock:
            row_id, made = leads.create(data)
        return {"id": row_id, "quality_score": made.score, "owner": made.owner, "queue": made.queue}

    def invalid(_: Request[Any, Any, Any], exc: ValidationError) -> Response[Any]:
        problems = [
            {"key": ".".join(map(str, e["loc"])), "message": e["msg"]} for e in exc.errors()
        ]
        return Response({"errors": problems}, status_code=HTTP_422_UNPROCESSABLE_ENTITY)

    async def close(_: Litestar) -> None:
        store.dispose()

    return Litestar(
        [create_lead],
        logging_config=None,
        exception_handlers={ValidationError: invalid},
        on_startup=[_freeze],
        on_shutdown=[close],
    )


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
    app: Any
    if kind == "hello":
        app = hello_app()
    elif kind in ("lead", "audited"):
        app = lead_app(Path(argv[2]), audited=kind == "audited")
    else:
        app = sopflow_app(Path(argv[2]), Path(argv[3]), port)
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
