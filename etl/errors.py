"""Errors a user can act on, each with the process exit code it maps to.

The CLI prints ``str(error)`` as one line and exits with ``error.exit_code``;
anything else is a bug and exits with ``EXIT_FAILURE`` after logging it.
"""

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_CONFIG = 3
EXIT_DATA_QUALITY = 4
EXIT_LOCKED = 5
EXIT_STALE = 6


class EtlError(Exception):
    """Base class: a failure the user can fix, reported without a traceback."""

    exit_code = EXIT_FAILURE


class ConfigError(EtlError):
    """A profile, a config key, a secret or a command-line value is wrong."""

    exit_code = EXIT_CONFIG


class SecretError(ConfigError):
    """A secret cannot be read: no key, wrong key, tampered file, missing name."""


class InputError(EtlError):
    """Input data cannot be processed as the contract says."""


class DataQualityError(EtlError):
    """A feed's share of rows failing error rules is above its threshold; gold was not touched."""

    exit_code = EXIT_DATA_QUALITY


class ExportError(EtlError):
    """A serving target (MySQL, exports bucket) failed; the lake is unchanged."""


class MissingTableError(ConfigError):
    """A stage reads a Delta table that its owning stage never created on this lake (run that first)."""


class StorageAccessError(ConfigError):
    """The object store refused a stage's identity (wrong key, or a policy that does not allow it)."""


class SchemaMismatchError(EtlError):
    """A frame about to be written to a catalogued Delta table lacks, adds or retypes a column of its
    catalogue schema (etl/catalog.py): a defect of the pipeline, stopped before anything is written."""


class LockError(EtlError):
    """Another run holds the run lock (or this run lost it); nothing more was written."""

    exit_code = EXIT_LOCKED


class StaleError(EtlError):
    """``etl check-freshness``: the newest succeeded run ended longer ago than allowed."""

    exit_code = EXIT_STALE
