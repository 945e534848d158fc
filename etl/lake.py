"""Where each Delta table lives: ``<lake>/<layer>/<table>``, one place for every path."""

from __future__ import annotations

from etl.config import Config
from etl.storage import spark_uri

LAYERS = ("bronze", "silver", "gold", "ops")


def table_uri(cfg: Config, layer: str, table: str) -> str:
    if layer not in LAYERS:
        raise ValueError(f"unknown lake layer {layer!r}; expected one of {LAYERS}")
    return spark_uri(cfg, cfg.storage.lake, layer, table)
