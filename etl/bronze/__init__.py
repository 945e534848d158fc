"""Landing -> bronze: readers per file format, the manifest, and the ingest stage."""

from etl.contracts import require_columns

__all__ = ["require_columns"]
