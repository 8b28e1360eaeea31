"""Server configuration: flags first, then the environment, then defaults."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from runtime.db import DEFAULT_SQLITE, database_url

ENV_SCHEMA = "SOPFLOW_DATABASE_SCHEMA"
ENV_EVIDENCE = "SOPFLOW_EVIDENCE_DIR"
ENV_MAILBOX = "SOPFLOW_MAILBOX_DIR"
ENV_LOG_FORMAT = "SOPFLOW_LOG_FORMAT"
ENV_WATCH_AUTHOR = "SOPFLOW_WATCH_AUTHOR"
MiB = 1024 * 1024
# The one default of every command (serve, token, user, db, make run): a SQLite file,
# evidence and mailbox under var/ of the working directory.
DEFAULT_DATABASE_URL = f"sqlite:///{DEFAULT_SQLITE}"
DEFAULT_EVIDENCE = "var/evidence"
DEFAULT_MAILBOX = "var/mailbox"


@dataclass(frozen=True)
class Config:
    """Everything `create_app` needs; build it with `Config.load(...)`."""

    directory: Path = Path("definitions")
    database_url: str = DEFAULT_DATABASE_URL
    database_schema: str | None = None  # PostgreSQL: put the tables in this schema
    evidence_dir: Path = Path(DEFAULT_EVIDENCE)
    mailbox_dir: Path = Path(DEFAULT_MAILBOX)
    host: str = "127.0.0.1"
    port: int = 8000
    watch: bool = True  # reload when a file in `directory` changes
    watch_debounce_ms: int = 50
    # F12: the author recorded for a reload after a file save; none: the changed file's
    # owner (OS user), see api/reload.py `file_author`
    watch_author: str | None = None
    background: bool = True  # run the scheduler and the outbox worker in this process
    tick_every: float = 5.0
    deliver_every: float = 2.0
    log_format: str = "json"  # json | text
    # Safety limits (docs/server.md, "Limits"): past them a request is answered 413 or
    # 503 instead of holding the server.
    max_upload_bytes: int = 25 * MiB  # one evidence file
    max_body_bytes: int = 32 * MiB  # any request body (an upload with its multipart frame)
    max_json_bytes: int = 4 * MiB  # a JSON body (records, commands)
    request_timeout: float = 30.0  # seconds a request's runtime work may take

    @classmethod
    def load(cls, **flags: Any) -> Config:
        """Return the configuration: given flags win over the environment (None: unset)."""
        env = {
            "database_url": database_url(),
            "database_schema": os.environ.get(ENV_SCHEMA) or None,
            "evidence_dir": Path(os.environ.get(ENV_EVIDENCE) or DEFAULT_EVIDENCE),
            "mailbox_dir": Path(os.environ.get(ENV_MAILBOX) or DEFAULT_MAILBOX),
            "log_format": os.environ.get(ENV_LOG_FORMAT, "json"),
            "watch_author": os.environ.get(ENV_WATCH_AUTHOR) or None,
        }
        given = {k: v for k, v in flags.items() if v is not None}
        config = replace(cls(), **{**env, **given})
        if config.log_format not in ("json", "text"):
            raise ValueError(f"log format '{config.log_format}' is neither json nor text")
        return config

    @classmethod
    def under(cls, root: Path, **flags: Any) -> Config:
        """Return a configuration keeping the SQLite file, evidence and mailbox in `root`."""
        return cls.load(
            **{
                "database_url": f"sqlite:///{root / 'sopflow.db'}",
                "evidence_dir": root / "evidence",
                "mailbox_dir": root / "mailbox",
                **flags,
            }
        )
