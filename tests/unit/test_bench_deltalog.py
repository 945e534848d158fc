"""What the benchmark reads from the Delta logs (benchmarks/deltalog.py): the commits a run wrote and how many
were MERGEs. Hand-written commit files on a local lake folder, no Spark."""

from __future__ import annotations

import json

import pytest

from benchmarks import deltalog
from etl.storage import LocalStore


def commit(operation: str | None, *actions: dict) -> str:
    """A commit file as Delta writes it: JSON Lines, commitInfo first, then the actions."""
    lines = [{"commitInfo": {"timestamp": 1, "operation": operation, "operationParameters": {}}}] if operation else []
    return "\n".join(json.dumps(a) for a in [*lines, *actions]) + "\n"


ADD = {"add": {"path": "part-0.parquet", "size": 10, "dataChange": True}}


def test_the_operation_of_a_commit_is_its_commit_info():
    assert deltalog.operation(commit("MERGE", ADD)) == "MERGE"
    assert deltalog.operation(json.dumps(ADD) + "\n" + commit("WRITE")) == "WRITE"    # wherever the line is
    assert deltalog.operation(commit(None, ADD)) is None                             # another writer's commit
    assert deltalog.operation('{"commitInfo": {"operation": "DELETE"}}\n{"add": {"pa') == "DELETE"   # a cut line


@pytest.mark.parametrize("key, is_commit", [
    ("silver/sales_lines/_delta_log/00000000000000000003.json", True),
    ("ops/runs/_delta_log/00000000000000000000.json", True),
    ("silver/sales_lines/_delta_log/00000000000000000010.checkpoint.parquet", False),
    ("silver/sales_lines/_delta_log/00000000000000000003.crc", False),
    ("silver/sales_lines/_delta_log/_last_checkpoint", False),
    ("silver/sales_lines/_delta_log/0003.json", False),                        # not a 20-digit version
    ("silver/sales_lines/part-00000-1.snappy.parquet", False),
    ("silver/sales_lines/_change_data/cdc-00000.snappy.parquet", False),
    ("_delta_log/00000000000000000000.json", False),                          # no table above it
])
def test_only_numbered_json_files_of_a_delta_log_are_commits(key, is_commit):
    assert deltalog.is_commit(key) is is_commit


def test_commits_and_merges_counted_per_operation_and_table():
    counts = deltalog.summarize({
        "bronze/sales/_delta_log/00000000000000000000.json": commit("CREATE TABLE"),
        "bronze/sales/_delta_log/00000000000000000001.json": commit("WRITE", ADD),
        "silver/customers/_delta_log/00000000000000000004.json": commit("MERGE", ADD),
        "silver/customers/_delta_log/00000000000000000005.json": commit("MERGE", ADD),
        "gold/kpi_daily_sales/_delta_log/00000000000000000002.json": commit("MERGE", ADD),
        "ops/runs/_delta_log/00000000000000000007.json": commit(None, ADD),
    })
    assert (counts["commits"], counts["merges"], counts["tables"]) == (6, 3, 4)
    assert counts["operations"] == {"MERGE": 3, "(no commitInfo)": 1, "CREATE TABLE": 1, "WRITE": 1}
    assert counts["by_table"]["silver/customers"] == {"commits": 2, "merges": 2}
    assert counts["by_table"]["bronze/sales"] == {"commits": 2, "merges": 0}


def test_only_the_commits_written_since_the_listing_before_the_run_count(tmp_path):
    lake = LocalStore(str(tmp_path / "lake"))

    def write(key: str, text: str) -> None:
        path = tmp_path / "lake" / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")

    write("silver/sales_lines/_delta_log/00000000000000000000.json", commit("CREATE TABLE"))
    write("silver/sales_lines/_delta_log/00000000000000000001.json", commit("WRITE", ADD))
    before = deltalog.commit_keys(lake)                      # what an earlier run left
    assert len(before) == 2

    write("silver/sales_lines/_delta_log/00000000000000000002.json", commit("MERGE", ADD))
    write("silver/sales_lines/_delta_log/00000000000000000002.crc", "{}")
    write("silver/sales_lines/part-00000-2.snappy.parquet", "data")
    write("gold/kpi_daily_sales/_delta_log/00000000000000000000.json", commit("CREATE OR REPLACE TABLE AS SELECT"))
    write("gold/kpi_daily_sales/_delta_log/00000000000000000001.json", commit("MERGE", ADD))

    counts = deltalog.new_commits(lake, before)
    assert (counts["commits"], counts["merges"], counts["tables"]) == (3, 2, 2)
    assert counts["by_table"] == {"gold/kpi_daily_sales": {"commits": 2, "merges": 1},
                                  "silver/sales_lines": {"commits": 1, "merges": 1}}
