"""The command line's shared options, in a module of their own so that sub-apps mounted by
``dashboard.cli`` (``dashboard.exchange.commands``) declare them once with it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

CONFIG_ENV = "THREAT_PICTURE_CONFIG"

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", help=f"Config folder (default: ${CONFIG_ENV}, else ./config)."),
]
StoreOption = Annotated[
    str | None,
    typer.Option("--store", help="SQLAlchemy URL of the store (default: $THREAT_PICTURE_STORE, "
                 "else settings.toml, else embedded SQLite in ./data)."),
]
