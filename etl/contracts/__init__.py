"""Feed contracts (DATA_CONTRACT.md): column names, aliases, mandatory columns, types.

One module per feed family; everything that knows a feed's columns reads them here.
"""

import re


def normalise_column_name(name: str) -> str:
    """Trim, lower-case, spaces and dashes to ``_`` (DATA_CONTRACT.md, customers; applied to every feed)."""
    return re.sub(r"[\s\-]+", "_", name.strip().lower())
