"""Landing -> bronze: readers per file format, the manifest, and the ingest stage."""

from pyspark.sql import DataFrame


def require_columns(frame: DataFrame, names: tuple[str, ...], what: str) -> None:
    """Fail with a message naming the missing columns (a wiring error, not bad data)."""
    missing = [n for n in names if n not in frame.columns]
    if missing:
        raise ValueError(f"{what} lacks column(s) {', '.join(missing)}; it has {', '.join(frame.columns)}")
