"""No secret leaks: a whole observed run and two failed runs, searched for every secret.

The session's slice run (``local_slice_run``: ingest, silver, gold, export to MySQL
and Excel) runs with Python logging at DEBUG, Hadoop S3A and the AWS SDK at DEBUG
through log4j2, and Spark's event log on (what the Spark UI and the History Server
show is rendered from it). While it runs, the command line and environment of
every process on the machine are sampled. Then two runs fail for real: the export
with a wrong MySQL password, and the silver stage with a wrong object-store key.
Every secret value of the stack (MinIO root and stage keys, MySQL user and
password, the wrong values the failed runs used, the master key) is searched in
all of it, as plain text and in base64; none may appear. What the runs leave
behind for readers is searched too: the Excel report (every part of the
workbook), the run records in ``ops/runs`` and in MySQL's ``etl_run_records``.
Reject sidecars are searched where files are rejected, in
tests/integration/test_hostile_input.py.
"""

from __future__ import annotations

import base64
import shutil
import zipfile
from pathlib import Path
from secrets import token_urlsafe

import pytest
from pyspark.sql import functions as F

from etl.errors import EXIT_CONFIG, EXIT_FAILURE
from etl.export.excel import report_file_name
from etl.export.mysql import Connection, target_for
from etl.run.records import runs_uri
from etl.run.stages import SILVER
from etl.secrets import SecretStore
from tests.integration.conftest import BIN, SLICE_RUN_DATE, observed_env

pytestmark = pytest.mark.integration

# Made at run time (no literal for the secret scanner to find), unique so a match can only be a leak.
WRONG_PASSWORD = f"leak-probe-{token_urlsafe(12)}"
WRONG_S3_KEY = f"leak-probe-{token_urlsafe(18)}"


def _forms(value: str) -> set[str]:
    raw = value.encode()
    return {value, base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode().rstrip("=")}


def _secret_values(stack, extra: tuple[str, ...]) -> dict[str, str]:
    store = SecretStore(stack.cfg.secrets_file)
    values = {name: store.get(name) for name in store.names()}
    values.update({f"wrong value {i}": v for i, v in enumerate(extra)})
    values["master key"] = Path(stack.env["ETL_MASTER_KEY_FILE"]).read_text().strip()
    assert len(values) >= 10, sorted(values)      # root pair, 3 stage pairs, MySQL pair, 2 wrong, the key
    return values


def secret_leaks(stack, haystacks: dict[str, str], extra: tuple[str, ...] = ()) -> list[tuple[str, str]]:
    """(secret name, where) for every secret of the stack found, in any of its forms, in any haystack."""
    return [(secret_name, where) for secret_name, value in _secret_values(stack, extra).items()
            for form in _forms(value) for where, text in haystacks.items() if form in text]


def _workbook_parts(path: Path) -> dict[str, str]:
    """Every part of an XLSX file (a zip of XML parts) as text."""
    with zipfile.ZipFile(path) as book:
        return {f"{path.name}:{name}": book.read(name).decode("utf-8", errors="replace") for name in book.namelist()}


def _what_readers_see(stack, s3_spark, cfg) -> dict[str, str]:
    """The slice run's Excel report, and the run records in ops/runs and in MySQL's etl_run_records."""
    parts = _workbook_parts(cfg.path(cfg.excel.output_dir) / report_file_name(SLICE_RUN_DATE))
    runs = "\n".join(r[0] for r in s3_spark.read.format("delta").load(runs_uri(cfg))
                     .select(F.to_json(F.struct("*"))).collect())   # a few runs
    with Connection(s3_spark, target_for(cfg, stack.secret)) as conn:
        mysql = "\n".join(repr(row) for row in conn.query("SELECT * FROM etl_run_records"))
    # The search can fail: each of them holds what the slice run put there.
    assert any("Customers" in text for text in parts.values())
    assert runs and mysql and "succeeded" in runs and "succeeded" in mysql
    return {**parts, "ops/runs": runs, "MySQL etl_run_records": mysql}


def _event_logs(folder: Path, required: bool = True) -> dict[str, str]:
    files = {str(p): p.read_text(errors="replace") for p in folder.rglob("*") if p.is_file()}
    assert files or not required, f"no event log written in {folder}"
    return files


@pytest.fixture(scope="module")
def failed_runs(local_slice_run, tmp_path_factory):
    """The export with a wrong MySQL password, and silver with a wrong S3 key: both must fail cleanly."""
    stack, _, env, _ = local_slice_run
    runs = []
    for name, secret, wrong, argv, code in (
        ("mysql", stack.cfg.mysql.password_secret, WRONG_PASSWORD,
         ["export", "mysql", "--date", SLICE_RUN_DATE.isoformat()], EXIT_FAILURE),
        ("s3", stack.cfg.storage.s3.identity(SILVER.identity).secret_key_secret, WRONG_S3_KEY,
         ["run", "--date", SLICE_RUN_DATE.isoformat(), "--stages", "silver"], EXIT_CONFIG),
    ):
        folder = tmp_path_factory.mktemp(f"failed-{name}")
        secrets = folder / "secrets.json"
        shutil.copy(stack.cfg.secrets_file, secrets)
        SecretStore(secrets).set(secret, wrong)
        (folder / "events").mkdir()
        seen: set[str] = set()
        result = stack.run([str(BIN / "etl"), "--log-level", "DEBUG", *argv],
                           {**observed_env(stack, env, folder / "events"), "ETL__SECRETS__FILE": str(secrets)},
                           seen=seen)
        assert result.returncode == code, result.stderr[-3000:]
        errors = [line for line in result.stderr.splitlines() if line.startswith("etl: error:")]
        assert len(errors) == 1 and "Traceback" not in result.stderr, result.stderr[-3000:]
        runs.append((name, result, folder / "events", seen, errors[0]))
    return runs


def test_failed_runs_say_what_failed_in_one_line(failed_runs):
    messages = {name: error for name, _, _, _, error in failed_runs}
    assert "cannot connect to MySQL" in messages["mysql"] and "Access denied" in messages["mysql"]
    # The run lock is the first thing the silver run writes, as the silver stage's identity.
    assert ("stage silver: the object store refused the transform identity" in messages["s3"]
            or "cannot write the run lock" in messages["s3"] and "the transform identity" in messages["s3"])
    assert "'minio_transform_secret_key'" in messages["s3"]


def test_no_secret_in_logs_event_logs_process_lists_or_errors(local_slice_run, failed_runs, s3_spark):
    stack, cfg, _, first = local_slice_run
    haystacks = {"slice run stdout": first.stdout, "slice run stderr": first.stderr,
                 **{f"slice run process {i}": text for i, text in enumerate(first.observed.processes)},
                 **_event_logs(first.observed.event_dir)}
    for name, result, events, seen, _ in failed_runs:
        haystacks.update({f"{name} run stdout": result.stdout, f"{name} run stderr": result.stderr,
                          **{f"{name} run process {i}": text for i, text in enumerate(seen)},
                          **_event_logs(events, required=False)})   # a run stopped at the lock has none
    # The search can fail: the observed output really holds what it is searched for.
    assert any("DEBUG" in text for text in haystacks.values())
    assert any("SparkListenerEnvironmentUpdate" in text for text in haystacks.values())
    assert any("daily_etl" in text or "etl run" in text or "/etl" in text for text in first.observed.processes)
    haystacks.update(_what_readers_see(stack, s3_spark, cfg))
    assert secret_leaks(stack, haystacks, (WRONG_PASSWORD, WRONG_S3_KEY)) == []
