"""The Delta commits a run wrote, from the lake's own ``_delta_log`` folders: how many, and how many MERGEs.

Read from the Delta logs, not from Spark's event log, because a Delta commit is not a Spark
listener event. The event log only shows the queries around a commit, and those differ with
Delta's internals and the pipeline's job names (a MERGE runs several, a plain append one, a
commit that writes no data, such as a CREATE TABLE, a schema change or a RESTORE, may run none),
so counting commits from it would be a guess. The commit files are what a commit *is*: one
``_delta_log/<20-digit version>.json`` per commit, written once with put-if-absent and never
rewritten, whose ``commitInfo`` action names the operation (``WRITE``, ``MERGE``, ``CREATE TABLE``...).

So the benchmark lists every commit file under the run's lake root before and after the run
(with the pipeline's own ObjectStore: boto3 on MinIO for the dev profile, the file system for
the local one) and reads the new ones. That is exact whatever wrote the commit (a DataFrame
write, the DeltaTable API, SQL, the run record in ops/runs), costs a listing of the lake plus
one GET per new commit (a day writes a few dozen), and each benchmark run has a lake root of
its own, so no other writer's commits are counted. Not commits, so never counted:
checkpoints (``.checkpoint.parquet``), ``.crc`` checksum files, ``_last_checkpoint``, and the
change-data and deletion-vector files.
"""

from __future__ import annotations

import json
import re
from collections import Counter

COMMIT_FILE = re.compile(r"^(?P<table>.+)/_delta_log/(?P<version>\d{20})\.json$")


def is_commit(key: str) -> bool:
    """``silver/sales_lines/_delta_log/00000000000000000003.json`` is; its ``.crc``, a checkpoint, are not."""
    return COMMIT_FILE.match(key) is not None


def table_of(key: str) -> str:
    """The table a commit file belongs to, as its path under the lake root (``silver/sales_lines``)."""
    match = COMMIT_FILE.match(key)
    if match is None:
        raise ValueError(f"not a Delta commit file: {key}")
    return match["table"]


def operation(commit_text: str) -> str | None:
    """The operation of one commit file (JSON Lines, one action a line): its ``commitInfo.operation``.

    None when the commit carries no commitInfo (Delta always writes one; another writer need not)."""
    for line in commit_text.splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            action = json.loads(line)
        except ValueError:
            continue
        info = action.get("commitInfo")
        if isinstance(info, dict):
            return info.get("operation")
    return None


def summarize(commits: dict[str, str]) -> dict:
    """Counts over ``{commit file key: its text}``: commits, MERGEs, commits per operation and per table."""
    operations: Counter[str] = Counter()
    by_table: dict[str, dict[str, int]] = {}
    merges = 0
    for key, text in sorted(commits.items()):
        op = operation(text) or "(no commitInfo)"
        operations[op] += 1
        table = by_table.setdefault(table_of(key), {"commits": 0, "merges": 0})
        table["commits"] += 1
        if op == "MERGE":
            merges += 1
            table["merges"] += 1
    return {"commits": len(commits), "merges": merges, "tables": len(by_table),
            "operations": dict(sorted(operations.items(), key=lambda kv: (-kv[1], kv[0]))),
            "by_table": dict(sorted(by_table.items()))}


def commit_keys(lake) -> set[str]:
    """Every commit file under the lake root (an etl.storage ObjectStore), as keys relative to it."""
    return {f.key for f in lake.list("") if is_commit(f.key)}


def new_commits(lake, before: set[str]) -> dict:
    """The commits written since ``before`` (from ``commit_keys``), read and counted (``summarize``)."""
    new = sorted(commit_keys(lake) - before)
    return summarize({key: b"".join(lake.open_chunks(key)).decode("utf-8", errors="replace") for key in new})
