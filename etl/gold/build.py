"""Gold stage: keep the facts up to date with silver, then compute every gold table for the run date.

Cost follows what changed, not the size of history:

1. **Facts, incrementally.** The facts tables of ``etl/gold/facts.py``
   (``gold/facts_<name>``) aggregate *all* revenue transactions of silver by
   month (each builder keeps the rows it counts: revenue, or cancelled POS
   orders). Each records, in its Delta commit's ``userMetadata``, the version of
   ``silver/transactions`` it reflects. A run reads silver's change data feed
   since that version, takes the months of every inserted, updated or deleted
   row (late, corrected and cancelled records included), recomputes just those
   months from silver (silver is clustered by ``transaction_date``, so data
   skipping reads only their files) and writes them with a ``replaceWhere`` on
   ``sales_month``, the facts' partition column: only those months' files change.
   Without a usable change feed (first run, a facts format change, the feed
   vacuumed away) or with ``rebuild=True`` the facts are recomputed whole.
2. **Gold from facts.** The history-wide tables (the two marts, monthly
   trends, daily sales, alerts) are window functions over the facts: months
   before ``D``'s month from the facts tables, ``D``'s own month re-aggregated
   from silver up to ``D`` (so running for an earlier date, after later data
   arrived, still gives that date's tables). The window KPIs read only the
   month of ``D`` and the 30 days before it.
3. **Writes.** Every gold table is overwritten whole for the run date (one
   ordered file): each mart row carries lifetime and ``D``-relative columns
   (lifetime value, segment, inactivity, last sale month), so a day's data
   changes rows in every month, and the tables are small next to silver.
4. **Each input and each table computed once.** The inputs (facts cut at ``D``,
   silver's windows, the reference tables) are materialized before the tables
   are computed, and each table before it is written
   (``etl.spark.materialize``): several tables read each input, and without
   it each would scan its Delta tables again (a Spark job of Delta's own per
   scan to pick the files). One input is not: silver's year of transactions
   (the whole table on a lake of a year), which its two readers scan with their
   own columns and dates (``SCANNED_BY_READERS``). The written frames stay
   available to the export of the same process (``GoldResult.frames``), which
   then reads no Delta table.

``rebuild=True`` (``etl run --stages gold --rebuild``) gives the same tables;
``tests/unit/test_gold_incremental.py`` proves it.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Callable

from pyspark.errors import PySparkException
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from etl import delta_io
from etl.config import Config
from etl.contracts import silver as contract
from etl.gold.common import last_30_days, month_of, month_start
from etl.gold.facts import DATED_FACTS, FACTS
from etl.gold.marts import GOLD_TABLES, build_all
from etl.lake import table_uri
from etl.spark import job_description, materialize

log = logging.getLogger(__name__)

# Bump when a facts table's columns or meaning change: the next run rebuilds the facts.
# 2: channel_daily and pos_mix_month; builders take all transactions. 3: partitioned by sales_month (facts an
# older format wrote are recomputed whole once, and so rewritten with the partitioning).
FACTS_FORMAT = 3
VERSION_KEY = "silver_transactions_version"
# The inputs gold_inputs computes itself (its ``materialize``): the recent window the facts' month is cut from.
MATERIALIZED_BY_INPUTS = frozenset({"transactions"})
# The inputs left as scans: silver's year of transactions is the whole table on a lake of a year (100M rows at
# the 100M benchmark). Copying it whole into Spark's blocks took 99.5 s of that incremental day, and its two
# readers need a few columns each: customer_rfm the year, kpi_basket_pairs_90d 90 days, which the table's
# date clustering lets Delta cut to those days' files. Each reader is computed once (``computed``).
SCANNED_BY_READERS = frozenset({"transactions_365d"})

@dataclass
class FactsRefresh:
    """What one facts table did in this run: ``months`` recomputed (None = all), at which silver version."""
    name: str
    silver_version: int
    months: list[str] | None
    reason: str

    def line(self) -> str:
        scope = "all months" if self.months is None else (", ".join(self.months) or "nothing")
        return f"facts {self.name}: {scope} ({self.reason}; silver transactions v{self.silver_version})"


@dataclass
class GoldResult:
    counts: dict[str, int] = field(default_factory=dict)
    locations: dict[str, str] = field(default_factory=dict)
    alerts: list[str] = field(default_factory=list)
    facts: list[FactsRefresh] = field(default_factory=list)
    # The frames written, materialized (name -> frame): the same process's export reads these instead of
    # the Delta tables it would read otherwise (their content is the same).
    frames: dict[str, DataFrame] = field(default_factory=dict, repr=False, compare=False)


def with_contract_columns(transactions: DataFrame) -> DataFrame:
    """Silver transactions with every column of the contract: a table written before a nullable column
    existed (silver not run since the upgrade) reads it as null, as the silver stage's ALTER would."""
    missing = [f for f in contract.TRANSACTIONS.fields if f.name not in transactions.columns]
    return transactions.select("*", *[F.lit(None).cast(f.dataType).alias(f.name) for f in missing])


def _enable_change_feed(spark: SparkSession, uri: str) -> bool:
    """Silver transactions must record its changes for the facts to follow them. The write that creates
    the table turns its change data feed on (the catalogue's table properties, ``delta_io``); a table
    created by an older release gets it here, once (True: a commit was made)."""
    if delta_io.table_property(spark, uri, "delta.enableChangeDataFeed") == "true":
        return False
    spark.sql(f"ALTER TABLE delta.`{uri}` SET TBLPROPERTIES (delta.enableChangeDataFeed = true)")
    log.info("enabled the change data feed on %s", uri)
    return True


def _recorded_version(spark: SparkSession, uri: str) -> int | None:
    """The silver version a facts table reflects, if it was written by this facts format."""
    version = delta_io.current_version(spark, uri)
    if version < 0:
        return None
    metadata = delta_io.commit_info(spark, uri, version).get("userMetadata")
    try:
        recorded = json.loads(metadata or "{}")
    except ValueError:
        return None
    if not isinstance(recorded, dict):      # the creation commit carries the run id, not facts metadata
        return None
    return recorded.get(VERSION_KEY) if recorded.get("facts_format") == FACTS_FORMAT else None


def _changed_months(spark: SparkSession, uri: str, after: int, upto: int) -> list[str] | None:
    """Months of every row changed in silver versions ``after+1 .. upto``; None when the feed cannot tell."""
    try:
        changes = (spark.read.format("delta").option("readChangeFeed", "true")
                   .option("startingVersion", after + 1).option("endingVersion", upto).load(uri))
        rows = changes.select(month_of("transaction_date").alias("m")).distinct().collect()  # bounded: months
    except PySparkException as exc:
        log.warning("change data feed of %s unreadable from v%d (%s): recomputing all facts",
                    uri, after + 1, str(exc).splitlines()[0][:200])
        return None
    return sorted(row.m for row in rows)


def _month_bounds(months: list[str]) -> tuple[date, date]:
    first = date.fromisoformat(months[0] + "-01")
    last_start = date.fromisoformat(months[-1] + "-01")
    following = (last_start.replace(day=28) + timedelta(days=4)).replace(day=1)
    return first, following - timedelta(days=1)


def refresh_facts(spark: SparkSession, transactions_uri: str, facts_uris: dict[str, str],
                  rebuild: bool = False, materialize: Callable[[DataFrame], DataFrame] = lambda frame: frame,
                  ) -> tuple[DataFrame, dict[str, DataFrame], list[FactsRefresh]]:
    """Bring every facts table up to the current silver version.

    Returns silver transactions pinned at that version (read it, not the live table, so that gold
    sees exactly what the facts reflect), the facts tables, and what was recomputed. A facts table
    recomputed whole (the first run, a rebuild) is computed once through ``materialize`` and returned
    as written, not read back from Delta (a scan and three Spark queries of Delta's own per table)."""
    version = delta_io.current_version(spark, transactions_uri)
    if version < 0:       # silver has written no transaction yet
        empty = delta_io.read_or_empty(spark, transactions_uri)
        return empty, {name: build(empty) for name, build in FACTS.items()}, []
    if _enable_change_feed(spark, transactions_uri):
        version = delta_io.current_version(spark, transactions_uri)
    transactions = with_contract_columns(delta_io.read(spark, transactions_uri, version))
    done: list[FactsRefresh] = []
    written: dict[str, DataFrame] = {}         # facts tables recomputed whole: their rows as written
    months_since: dict[int, list[str] | None] = {}      # the change feed is read once per recorded version
    for name, build in FACTS.items():
        uri = facts_uris[name]
        recorded = None if rebuild else _recorded_version(spark, uri)
        if recorded == version:
            continue
        if recorded is not None and recorded not in months_since:
            months_since[recorded] = _changed_months(spark, transactions_uri, recorded, version)
        months = None if recorded is None else months_since[recorded]
        reason = ("rebuild requested" if rebuild else "no facts yet" if recorded is None
                  else "change feed unavailable" if months is None else "changed in silver")
        writer_metadata = json.dumps({"facts_format": FACTS_FORMAT, VERSION_KEY: version})
        table = f"facts_{name}"
        if months is None:
            written[name] = materialize(build(transactions))
            delta_io.overwrite(spark, written[name], uri, name=table, metadata=writer_metadata)
        elif not months:      # only metadata or no-op commits: record the version, change nothing
            delta_io.append(spark, build(transactions.limit(0)), uri, name=table, metadata=writer_metadata)
        else:
            first, last = _month_bounds(months)
            in_months = (F.col("transaction_date").between(F.lit(first), F.lit(last))
                         & month_of("transaction_date").isin(months))
            delta_io.replace_where(spark, build(transactions.filter(in_months)), uri,
                                   f"sales_month IN ({delta_io.sql_strings(months)})", name=table,
                                   metadata=writer_metadata)
        done.append(FactsRefresh(name, version, months, reason))
        log.info(done[-1].line())
    facts = {name: written[name] if name in written else delta_io.read(spark, uri) for name, uri in facts_uris.items()}
    return transactions, facts, done


def gold_inputs(spark: SparkSession, cfg: Config, run_date: date, rebuild: bool = False,
                materialize: Callable[[DataFrame], DataFrame] = lambda frame: frame,
                ) -> tuple[dict[str, DataFrame], list[FactsRefresh]]:
    """The frames ``build_all`` needs for ``run_date``: facts cut at ``D`` and silver windows.

    ``materialize`` (the stage passes ``etl.spark.materialize``) is applied to the recent window of silver
    transactions (``transactions``) before the facts' current month is cut from it: each facts input then
    reads that window's blocks instead of scanning silver again (a scan, and Delta's own queries to pick
    its files, per facts table)."""
    transactions, facts, refreshed = refresh_facts(
        spark, table_uri(cfg, "silver", "transactions"),
        {name: table_uri(cfg, "gold", f"facts_{name}") for name in FACTS}, rebuild, materialize)
    run_month = run_date.strftime("%Y-%m")
    window_start = min(month_start(run_date), last_30_days(run_date)[0])
    recent = materialize(transactions.filter(F.col("transaction_date").between(F.lit(window_start),
                                                                                F.lit(run_date))))
    # D's own month from silver, cut at D (the window starts at its first day or earlier); earlier months
    # from the facts.
    this_month = recent.filter(F.col("transaction_date") >= F.lit(month_start(run_date)))
    frames = {
        name: (facts[name].filter(F.col("sales_month") < F.lit(run_month)).select(*build(this_month).columns)
               .unionByName(build(this_month)))
        for name, build in FACTS.items() if name not in DATED_FACTS
    }
    for name in DATED_FACTS:      # rows of a date never change with D: cut at D
        frames[name] = facts[name].filter(F.col("date") <= F.lit(run_date))
    lines = delta_io.read_or_empty(spark, table_uri(cfg, "silver", "sales_lines"))
    frames["sales_lines"] = lines.filter(F.col("transaction_date").between(F.lit(run_date - timedelta(days=89)),
                                                                           F.lit(run_date)))
    frames["transactions"] = recent
    frames["transactions_365d"] = transactions.filter(
        F.col("transaction_date").between(F.lit(run_date - timedelta(days=364)), F.lit(run_date)))
    for name in ("dim_customer", "sales_team", "products"):
        frames[name] = delta_io.read_or_empty(spark, table_uri(cfg, "silver", name))
    return frames, refreshed


def build_gold(spark: SparkSession, cfg: Config, run_date: date, rebuild: bool = False) -> GoldResult:
    result = GoldResult()
    seconds = [0.0]      # the inputs' computing, without the facts' writes between

    def materialize_input(frame: DataFrame) -> DataFrame:
        started = time.monotonic()
        with job_description(spark, "gold inputs"):
            frame = materialize(frame)
        seconds[0] += time.monotonic() - started
        return frame

    frames, result.facts = gold_inputs(spark, cfg, run_date, rebuild, materialize=materialize_input)
    frames = {name: frame if name in MATERIALIZED_BY_INPUTS | SCANNED_BY_READERS else materialize_input(frame)
              for name, frame in frames.items()}
    log.info("gold inputs: computed in %.2f s", seconds[0])

    def computed(name: str, frame: DataFrame) -> DataFrame:
        """The table computed once; its seconds logged, since its write (logged by delta_io) only copies it."""
        started = time.monotonic()
        with job_description(spark, f"gold {name}"):
            frame = materialize(frame.coalesce(1))
        log.info("gold %s: computed in %.2f s", name, time.monotonic() - started)
        return frame

    for name, frame in build_all(frames, run_date, cfg.gold.incentive_rate, prepare=computed).items():
        uri = table_uri(cfg, "gold", name)
        commit = delta_io.overwrite(spark, frame, uri, name=name)
        result.frames[name] = frame
        result.locations[name] = uri
        result.counts[name] = commit.metrics.get("numOutputRows", 0)
        log.info("gold %s: %d row(s) for run date %s", name, result.counts[name], run_date)
    alerts = result.frames["alerts"]
    result.alerts = [f"{r.date}: revenue_7d {r.revenue} against {r.expected} expected ({r.reason})"
                     for r in alerts.filter(alerts.date == run_date).collect()]   # at most one row
    return result


__all__ = ["GOLD_TABLES", "GoldResult", "build_gold", "refresh_facts"]
