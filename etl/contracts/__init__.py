"""Feed contracts (DATA_CONTRACT.md): column names, aliases, mandatory columns, types.

One module per feed family; everything that knows a feed's columns reads them here.
"""

import re
from typing import Iterable

from pyspark.sql import DataFrame


def normalise_column_name(name: str) -> str:
    """Trim, lower-case, spaces and dashes to ``_`` (DATA_CONTRACT.md, customers; applied to every feed)."""
    return re.sub(r"[\s\-]+", "_", name.strip().lower())


def require_columns(frame: DataFrame, names: Iterable[str], what: str, hint: str = "") -> None:
    """Fail with a message naming the missing columns (a wiring error, not bad data)."""
    missing = [n for n in names if n not in frame.columns]
    if missing:
        raise ValueError(f"{what} lacks column(s) {', '.join(missing)}; it has {', '.join(frame.columns)}"
                         + (f". {hint}" if hint else ""))
