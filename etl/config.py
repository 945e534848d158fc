"""Typed configuration: ``conf/base.yaml`` + ``conf/<profile>.yaml`` + environment.

Precedence (last wins): base file, profile file, ``ETL__SECTION__KEY=value``
environment variables (values parsed as YAML scalars, so ``false`` and ``4``
keep their types). Validation is pydantic's; every failure is reported as one
line naming the profile and the key, never a traceback.
Secrets are never in the config itself, only their names in the secrets file.
"""

from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from etl.errors import ConfigError

PROJECT_ROOT = Path(os.environ.get("ETL_HOME", Path(__file__).resolve().parents[1]))
CONF_DIR = PROJECT_ROOT / "conf"
ENV_PREFIX = "ETL__"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SparkSettings(_Section):
    app_name: str = "retail-lakehouse-etl"
    master: str | None = "local[2]"
    shuffle_partitions: int = Field(4, ge=1)
    ui_enabled: bool = False
    driver_memory: str = "2g"
    conf: dict[str, str] = {}


# The object-store identities (credential groups) stages sign in with (least privilege, docs/security.md):
# ingest reads landing and writes the lake, transform (silver, gold) works in the lake only,
# export reads gold and writes the exports bucket, run writes the run lock and ops/runs (the
# bookkeeping of every run). Each stage names its own (``Stage.identity``, etl/run/stages.py).
CREDENTIAL_GROUPS = ("ingest", "transform", "export", "run")


class S3Identity(_Section):
    """The names (never the values) of one access key / secret key pair in the secrets file."""

    access_key_secret: str
    secret_key_secret: str


class S3Settings(_Section):
    endpoint: str
    path_style_access: bool = True
    ssl_enabled: bool = False
    region: str = "us-east-1"
    # The default identity: every stage without its own entry below, and the housekeeping
    # commands (services, generate, upload). In `dev` it is MinIO's root user.
    access_key_secret: str
    secret_key_secret: str
    stage_credentials: dict[Literal[CREDENTIAL_GROUPS], S3Identity] = {}
    # The stage policies (etl/access.py) also admit area roots one folder below the configured ones
    # (s3a://lake/<name>): test and benchmark runs side by side in one MinIO. Never in production.
    prefixed_roots: bool = False

    def identity(self, group: str | None = None) -> S3Identity:
        """The identity of credential group ``group`` (a stage's ``identity``); None: the default pair."""
        own = self.stage_credentials.get(group) if group else None
        return own or S3Identity(access_key_secret=self.access_key_secret, secret_key_secret=self.secret_key_secret)


class StorageSettings(_Section):
    landing: str
    lake: str
    exports: str
    s3: S3Settings | None = None


# Connector/J's sslMode values the export may use (PREFERRED is left out: it falls back to plain text
# without a word). DISABLED only for a server on this machine (etl/export/mysql.py refuses it otherwise).
SSL_MODES = ("DISABLED", "REQUIRED", "VERIFY_CA", "VERIFY_IDENTITY")
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


class MySQLSettings(_Section):
    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = 3306
    # TLS to MySQL: REQUIRED encrypts, VERIFY_CA also checks the server certificate against the JVM's
    # trust store, VERIFY_IDENTITY also its host name (production). docs/security.md, "TLS".
    ssl_mode: Literal[SSL_MODES] = "VERIFY_IDENTITY"
    database: str = "retail_gold"
    user_secret: str = "mysql_user"
    password_secret: str = "mysql_password"
    # The read-only account SQL consumers are given (SELECT on the gold tables only; docs/serving.md).
    # No stage uses it: `etl services start` creates it in dev, docker/mysql/init in the compose stack.
    reader_user_secret: str = "mysql_reader_user"
    reader_password_secret: str = "mysql_reader_password"
    batch_size: int = Field(5000, ge=1)
    max_connections: int = Field(2, ge=1)
    # Tables of at most this many rows are loaded through the control connection in multi-row INSERTs
    # (collected to the driver, one Spark job for all of them); 0 sends every table through Spark's JDBC writer.
    small_table_rows: int = Field(10_000, ge=0, le=1_000_000)


class ExcelSettings(_Section):
    output_dir: str = ".local/exports"
    upload: bool = False
    max_rows_per_sheet: int = Field(1_048_576, ge=2, le=1_048_576)


class GoldSettings(_Section):
    incentive_rate: Decimal = Decimal("0.01")


class QualitySettings(_Section):
    rules_file: str = "conf/quality_rules.yaml"
    # rapidfuzz token_sort_ratio (0-100) an order-event item name needs to match a product by name
    fuzzy_match_threshold: float = Field(85.0, ge=0, le=100)


class IngestSettings(_Section):
    # Limits on one XLSX delivery, past which it is rejected with the reason (docs/ingestion.md): the
    # uncompressed size of all its parts and the compression ratio of each part over 1 MiB, both from the
    # zip's directory before openpyxl opens it; rows and cells of the first sheet, blank ones included.
    xlsx_max_uncompressed_mb: float = Field(256, gt=0)
    xlsx_max_ratio: float = Field(100, ge=1)
    xlsx_max_rows: int = Field(1_048_576, ge=2)
    xlsx_max_cells: int = Field(50_000_000, ge=2)

    def xlsx_limits(self):
        from etl.bronze.xlsx import XlsxLimits

        return XlsxLimits(int(self.xlsx_max_uncompressed_mb * 1024 * 1024), self.xlsx_max_ratio, self.xlsx_max_rows,
                          self.xlsx_max_cells)


class MinioServiceSettings(_Section):
    port: int = 9900
    console_port: int = 9901
    data_dir: str = ".local/minio"


class MariaDBServiceSettings(_Section):
    port: int = 3406
    data_dir: str = ".local/mariadb"


class ServicesSettings(_Section):
    minio: MinioServiceSettings = MinioServiceSettings()
    mariadb: MariaDBServiceSettings = MariaDBServiceSettings()


class SecretsSettings(_Section):
    # Where a profile's credentials come from: ``file``, the encrypted secrets file (the default
    # everywhere), or ``folder``, one plain file per secret in a folder the platform fills (Docker or
    # Kubernetes secrets, mounted at /run/secrets): the compose stack's choice (etl/secrets.py).
    source: Literal["file", "folder"] = "file"
    file: str = "conf/secrets/{profile}.json"
    folder: str = "/run/secrets"


class OpsSettings(_Section):
    # Days of Delta time travel `etl maintain` keeps: VACUUM deletes only files unreferenced for longer.
    # Below 7 (Delta's own safety check) only when set explicitly; see docs/operations-maintenance.md.
    time_travel_days: float = Field(7, ge=0)
    # Tasks VACUUM lists and compares files with; unset: the cluster's default parallelism (its cores).
    # Spark's own default (spark.sql.sources.parallelPartitionDiscovery.parallelism) is 10000 tasks per
    # table, minutes of task overhead for the small tables here; raise it for tables of millions of files.
    vacuum_parallelism: int | None = Field(None, ge=1)
    # The run lock (etl/ops/lock.py) expires this long after its last refresh; a heartbeat refreshes it
    # every quarter of that, so only a run that died leaves it to expire and be taken over.
    lock_ttl_minutes: float = Field(120, gt=0)


class RetrySettings(_Section):
    # boto3: botocore's own retry modes ('standard': throttling, 5xx, connection errors; 'adaptive':
    # the same plus client-side rate limiting). max_attempts counts the first try.
    s3_mode: Literal["standard", "adaptive"] = "standard"
    s3_max_attempts: int = Field(5, ge=1, le=20)
    # MySQL connection opening (etl/export/mysql.py): attempts and the first backoff, doubled each time.
    mysql_attempts: int = Field(5, ge=1, le=20)
    mysql_backoff_seconds: float = Field(1.0, ge=0)
    mysql_max_backoff_seconds: float = Field(30.0, ge=0)


class Config(_Section):
    profile: str
    spark: SparkSettings = SparkSettings()
    storage: StorageSettings
    mysql: MySQLSettings = MySQLSettings()
    excel: ExcelSettings = ExcelSettings()
    gold: GoldSettings = GoldSettings()
    quality: QualitySettings = QualitySettings()
    ingest: IngestSettings = IngestSettings()
    secrets: SecretsSettings = SecretsSettings()
    services: ServicesSettings = ServicesSettings()
    ops: OpsSettings = OpsSettings()
    retries: RetrySettings = RetrySettings()
    log_format: Literal["text", "json"] = "text"

    def path(self, relative: str) -> Path:
        """A config path made absolute against the project root."""
        path = Path(relative.format(profile=self.profile)).expanduser()
        return path if path.is_absolute() else PROJECT_ROOT / path

    @property
    def secrets_file(self) -> Path:
        return self.path(self.secrets.file)


def _is_profile(path: Path) -> bool:
    """A profile file holds config sections only: ``base`` and other YAML files in conf/ (the quality
    rules, keyed by feed) are not profiles. A file that does not parse is still offered, so that
    loading it names its error."""
    if path.stem == "base":
        return False
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError):
        return True
    return not isinstance(data, dict) or set(data) <= set(Config.model_fields) - {"profile"}


def available_profiles() -> list[str]:
    return sorted(p.stem for p in CONF_DIR.glob("*.yaml") if _is_profile(p))


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {exc}".replace("\n", " ")) from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping at the top level")
    return data


def _merge(base: dict, override: dict) -> dict:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _environment_overrides(environ: dict[str, str]) -> dict:
    overrides: dict = {}
    for name, raw in environ.items():
        if not name.startswith(ENV_PREFIX):
            continue
        keys = [part.lower() for part in name[len(ENV_PREFIX):].split("__")]
        node = overrides
        for key in keys[:-1]:
            node = node.setdefault(key, {})
        node[keys[-1]] = yaml.safe_load(raw) if raw != "" else ""
    return overrides


def load_config(profile: str | None = None, environ: dict[str, str] | None = None) -> Config:
    """Load and validate a profile; raises ConfigError with one clear line."""
    environ = dict(os.environ if environ is None else environ)
    profile = profile or environ.get("ETL_PROFILE", "local")
    profile_file = CONF_DIR / f"{profile}.yaml"
    if not profile_file.exists() or not _is_profile(profile_file):
        raise ConfigError(f"unknown profile '{profile}': choose one of {', '.join(available_profiles())}")
    data = _merge(_read_yaml(CONF_DIR / "base.yaml"), _read_yaml(profile_file))
    data = _merge(data, _environment_overrides(environ))
    data["profile"] = profile
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(part) for part in first["loc"]) or "(top level)"
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise ConfigError(f"config error in profile '{profile}': {key}: {first['msg']}{more}") from None
