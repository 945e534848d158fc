"""The run id: one per run (and per date of a backfill), in every log line, commit and record of that run."""

from __future__ import annotations

import secrets as random_tokens
from datetime import datetime, timezone


def new_run_id(now: datetime | None = None) -> str:
    """Sortable by start time, unique across concurrent starts."""
    now = now or datetime.now(timezone.utc)
    return f"{now:%Y%m%dT%H%M%SZ}-{random_tokens.token_hex(3)}"
