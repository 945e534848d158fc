"""Silver stage: new bronze rows -> checked, conformed silver tables, quarantine and dq_results.

Each run takes, per feed, the bronze rows of ingest runs silver has not yet
processed (``ops/silver_progress`` lists the processed (feed, run id) pairs with
the bronze version read; the new runs are those of the bronze commits after it,
found in the bronze log without reading bronze rows), so a rerun finds nothing
new and changes nothing. Per feed, in one pass:
typed -> reference lookups -> quality rules (``conf/quality_rules.yaml``, counts
observed while the rows are processed) -> quarantine / silver. The checked rows
are persisted for the two writes that read them.

Order matters: reference data first (lookups), customers next (phone lookups of
orders and events use the new ``dim_customer``), then sales, orders and events.
Every feed's rules are counted and its quarantine written before any silver
table of the run changes; a feed above its error threshold stops the run there
(``DataQualityError``, exit code 4) with silver and gold as they were, and
nothing marked processed, so a rerun after a fix sees the same rows.

Writes, each with the cheapest operation of ``etl/delta_io.py`` that keeps its
guarantee (the catalogue, ``etl/catalog.py``, names it per table):
``transactions`` and ``sales_lines`` take the new versions of their keys, all
channels in one write per table: a day of new keys is an append, and only a
changed key is MERGEd (its files rewritten; tests/unit/test_silver_merge_scope.py).
The match is on the key alone, never narrowed by date, because a sale seen again
replaces its earlier version even when its date moved (docs/silver.md).
``dq_results`` and ``silver_progress`` rows are keyed by the run: idempotent
appends (Delta transaction ids), no MERGE. A quarantine replaces the verdicts on
the files it judged in one ``replaceWhere`` commit. ``orders`` and
``restaurants`` are upserted only when a row is new or changed (an append when
every such key is new). ``dim_customer`` and ``customer_id_map`` are rebuilt from
every customer version delivered so far (a small table) and written only when
their content changed; order-event child tables are replaced for the orders the
run touched.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date
from functools import reduce

from pyspark.sql import DataFrame, Observation, SparkSession
from pyspark.sql import functions as F

from etl import delta_io
from etl.delta_io import sql_strings
from etl.catalog import REFERENCE_FEEDS, SILVER_PROGRESS
from etl.config import Config
from etl.contracts import order_events as events_contract
from etl.contracts import silver as contract
from etl.errors import DataQualityError, MissingTableError
from etl.lake import table_uri
from etl.quality.rules import (DQ_RESULTS_SCHEMA, ROWS_WITH_ERRORS, TOTAL_ROWS, FeedRules, apply_rules,
                               dq_result_rows, load_rules, passed, quarantine_rows, threshold_breaches)
from etl.silver import customers as customers_silver
from etl.silver import order_events as events_silver
from etl.silver import orders as orders_silver
from etl.silver import sales as sales_silver
from etl.silver.reference import typed_reference
from etl.spark import CACHE_LEVEL, job_description, materialize

log = logging.getLogger(__name__)
# Predicates that name keys (replaceWhere on files or orders) stay short; beyond these a MERGE does the work.
MAX_FILES_IN_PREDICATE = 1000
MAX_KEYS_IN_PREDICATE = 1000
# Transactions of a run up to which their keys are broadcast (a few MB of keys) when checked against silver.
BROADCAST_KEYS = 2_000_000
CHANNEL_FEEDS = ("sales", "orders", "order_events")


@dataclass
class FeedQuality:
    """Record accounting of one feed in one run: rows in = to silver + quarantined + deduplicated."""

    feed: str
    rows_in: int = 0
    rows_quarantined: int = 0
    rows_to_silver: int = 0
    failed_by_rule: dict[str, int] = field(default_factory=dict)
    warned_by_rule: dict[str, int] = field(default_factory=dict)

    @property
    def rows_deduplicated(self) -> int:
        return self.rows_in - self.rows_quarantined - self.rows_to_silver


@dataclass
class SilverResult:
    feeds: list[FeedQuality] = field(default_factory=list)
    breaches: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = []
        for q in self.feeds:
            out.append(f"  silver {q.feed:<12} rows in {q.rows_in}, to silver {q.rows_to_silver}, "
                       f"quarantined {q.rows_quarantined}, deduplicated {q.rows_deduplicated}")
            if q.failed_by_rule:
                out.append("    quarantined by rule: " + ", ".join(f"{k} {v}" for k, v in q.failed_by_rule.items()))
            if q.warned_by_rule:
                out.append("    warnings by rule: " + ", ".join(f"{k} {v}" for k, v in q.warned_by_rule.items()))
        return out


# A conformed row's version is the bronze record it came from: the same key from another record is a new version.
VERSION_COLUMNS = ["source_file", "record_number"]


class SilverStage:
    def __init__(self, spark: SparkSession, cfg: Config, run_date: date, run_id: str):
        self.spark, self.cfg, self.run_date, self.run_id = spark, cfg, run_date, run_id
        self.rules: dict[str, FeedRules] = load_rules(cfg.path(cfg.quality.rules_file))
        self.result = SilverResult()
        self._persisted: list[DataFrame] = []
        self.files: dict[str, list[str]] = {}      # feed -> the bronze files this run checks
        self._processed: DataFrame | None = None
        self._up_to: dict[str, int | None] | None = None
        self.read_versions: dict[str, int] = {}     # feed -> the bronze version this run read

    def uri(self, layer: str, table: str) -> str:
        return table_uri(self.cfg, layer, table)

    def keep(self, frame: DataFrame) -> DataFrame:
        frame = frame.persist(CACHE_LEVEL)
        self._persisted.append(frame)
        return frame

    def materialize(self, frame: DataFrame) -> DataFrame:
        """``frame`` computed once (etl.spark.materialize). The conformed frames are unions of every
        channel's typing, lookups, rules and deduplication: planning each of the several queries a write
        runs over them took seconds (plans of 10^5 lines on a day of a few hundred rows), against
        milliseconds over the checkpoint."""
        return materialize(frame)

    # -- what is new --------------------------------------------------------------------------
    def new_bronze(self, feed: str) -> tuple[DataFrame | None, list[str]]:
        """The bronze rows of the feed's ingest runs silver has not processed, and those run ids.

        The runs come from the bronze log, not its rows: every ingest commit names its run
        (``userMetadata``), and silver records the bronze version it read with each run it processed,
        so the new runs are those of the commits after the newest recorded version (their JSON files,
        no Spark job; a feed with none is not read at all). Where the log cannot tell (progress from an
        older release, a commit without its run id, commit files Delta has cleaned up) the run ids
        stored in bronze are compared with the processed ones instead, as before. Either way the rows
        are read at the version looked at, and that version is recorded with the runs
        (``self.read_versions``)."""
        uri = self.uri("bronze", feed)
        latest = delta_io.current_version(self.spark, uri)
        if latest < 0:                  # the feed was never delivered
            return None, []
        self.read_versions[feed] = latest
        after = self.processed_up_to().get(feed, -1)        # -1: no run of the feed processed yet
        runs = None
        if after is not None and latest - after <= delta_io.HISTORY_FROM:
            since = delta_io.commits(self.spark, uri, after, latest)
            appends = [run_id for _, operation, run_id in since if operation == "WRITE"]
            if len(since) == latest - after and all(appends):      # every commit there, each naming its run
                runs = sorted(set(appends))
        bronze = delta_io.read(self.spark, uri, latest) if runs is None or runs else None
        if runs is None:
            done = self.processed_runs().filter(F.col("feed") == feed)
            runs = sorted(r.run_id for r in bronze.select("run_id").distinct().join(done, "run_id", "left_anti")
                          .collect())          # bounded: one row per ingest run not processed yet
        if not runs:
            return None, []
        return bronze.filter(F.col("run_id").isin(runs)), runs

    def processed(self, progress: list, feed: str, runs: list[str]) -> None:
        """Mark ``runs`` of ``feed`` processed (written with the stage's other progress, at its end)."""
        progress.extend((feed, run, self.read_versions[feed]) for run in runs)

    def processed_runs(self) -> DataFrame:
        """``ops/silver_progress`` (feed, run id, bronze version), read once per stage: every feed's
        pending runs are found from it, and each read of the Delta table would be a scan (and a Spark job
        of Delta's own to pick its files) of its own."""
        if self._processed is None:
            try:
                self._processed = materialize(delta_io.read(self.spark, self.uri("ops", "silver_progress")))
            except MissingTableError:       # no run processed yet
                self._processed = self.spark.createDataFrame([], SILVER_PROGRESS)
                self._up_to = {}
        return self._processed

    def processed_up_to(self) -> dict[str, int | None]:
        """Feed -> the newest bronze version silver has read of it (None: not known, e.g. the progress
        of an older release, which did not record it; a feed with no processed run is absent); one small
        query for all feeds."""
        processed = self.processed_runs()
        if self._up_to is None:
            if "bronze_version" not in processed.columns:
                self._up_to = {r.feed: None for r in processed.select("feed").distinct().collect()}   # bounded
            else:
                self._up_to = {r.feed: r.version for r in processed.groupBy("feed").agg(
                    F.max("bronze_version").alias("version")).collect()}       # bounded: one row per feed
        return self._up_to

    # -- checks -------------------------------------------------------------------------------
    def check(self, feed: str, frame: DataFrame, rules: FeedRules | None = None) -> tuple[DataFrame, FeedQuality]:
        rules = rules or self.rules[feed]
        observation, files = Observation(f"dq_{feed}"), Observation(f"files_{feed}")
        checked = apply_rules(frame, rules, self.run_date, observation=observation)
        checked = self.keep(checked.observe(files, F.collect_set("source_file").alias("files")))
        checked.count()      # the one pass that fills the observations and the cache
        self.files[feed] = sorted(files.get["files"])     # bounded: the files of the runs being processed
        return checked, self.account(feed, rules, observation.get)

    def account(self, feed: str, rules: FeedRules, metrics: dict) -> FeedQuality:
        self.dq_rows.extend(dq_result_rows(metrics, rules, self.run_id, self.run_date))
        quality = FeedQuality(feed, rows_in=int(metrics[TOTAL_ROWS]),
                              rows_quarantined=int(metrics[ROWS_WITH_ERRORS]))
        quality.failed_by_rule = {r.name: int(metrics[r.name]) for r in rules.of_severity("error")
                                  if metrics[r.name]}
        quality.warned_by_rule = {r.name: int(metrics[r.name]) for r in rules.of_severity("warn") if metrics[r.name]}
        self.result.feeds.append(quality)
        return quality

    # -- the stage ------------------------------------------------------------------------------
    def run(self) -> SilverResult:
        self.dq_rows: list[tuple] = []
        writes: list = []          # (name, callable) silver writes, run only when no feed breaches its threshold
        progress: list[tuple[str, str, int]] = []     # (feed, run id, bronze version read)
        self.conformed: list[tuple[DataFrame, DataFrame]] = []    # (transactions, sales_lines) per channel
        try:
            with job_description(self.spark, "silver reference"):
                reference = self.reference(progress)
            with job_description(self.spark, "silver customers"):
                customer_writes, dim, id_map = self.customers(progress)
            writes += customer_writes
            with job_description(self.spark, "silver sales"):
                self.sales(reference, id_map, progress)
            with job_description(self.spark, "silver orders"):
                self.orders(reference, dim, progress)
            with job_description(self.spark, "silver order_events"):
                writes += self.order_events(reference, dim, progress)
            writes += self.conformed_writes()

            if self.dq_rows:
                dq = self.spark.createDataFrame(self.dq_rows, DQ_RESULTS_SCHEMA)
                delta_io.append(self.spark, dq, self.uri("ops", "dq_results"), name="dq_results",
                                txn=(f"{self.run_id}/dq_results", 0), coalesce=1)
                self.result.breaches = threshold_breaches(self.dq_rows_as_dicts(), self.rules)
            if self.result.breaches:
                raise DataQualityError("data-quality threshold exceeded, silver and gold left unchanged: "
                                       + "; ".join(self.result.breaches))
            for name, write in writes:
                with job_description(self.spark, f"silver write {name}"):
                    write()
            if progress:
                progress_uri = self.uri("ops", "silver_progress")
                delta_io.add_missing_columns(self.spark, progress_uri, SILVER_PROGRESS)   # an older release's
                delta_io.append(self.spark, self.spark.createDataFrame(progress, SILVER_PROGRESS), progress_uri,
                                name="silver_progress", txn=(f"{self.run_id}/silver_progress", 0), coalesce=1)
            return self.result
        finally:
            for frame in self._persisted:
                frame.unpersist()

    def dq_rows_as_dicts(self) -> list[dict]:
        names = DQ_RESULTS_SCHEMA.fieldNames()
        return [dict(zip(names, row)) for row in self.dq_rows]

    def write_quarantine(self, feed: str, quarantine: DataFrame, processed: DataFrame) -> None:
        """The quarantine holds the latest verdict on each processed bronze row: a row judged by an earlier
        attempt (a run stopped by a threshold, say) loses its old entry first, so it is never doubled, and a
        row that passes now is no longer listed.

        A feed checked whole-file (every row of the files of its pending ingest runs) replaces the verdicts
        on those files in one commit (``replaceWhere`` on ``source_file``); order events, whose processed
        rows are some rows of older files too, delete the verdicts on exactly those rows first."""
        uri, name = self.uri("silver", f"quarantine_{feed}"), f"quarantine_{feed}"
        files = self.files.get(feed)
        if files is not None and len(files) <= MAX_FILES_IN_PREDICATE:
            delta_io.replace_where(self.spark, quarantine, uri, f"source_file IN ({sql_strings(files)})"
                                   if files else "false", name=name)
            return
        delta_io.delete_keys(self.spark, processed.select("source_file", "record_number").distinct(), uri,
                             ("source_file", "record_number"), name=name)
        delta_io.append(self.spark, quarantine, uri, name=name)

    # -- feeds ----------------------------------------------------------------------------------
    def reference(self, progress: list) -> dict[str, DataFrame]:
        """Reference feeds are snapshots: rebuilt from all their bronze rows when a delivery is new."""
        frames = {}
        for feed in REFERENCE_FEEDS:
            new, runs = self.new_bronze(feed)
            if new is not None:
                # computed once: compared with the stored table, written if it differs, and used as the
                # table's content by the feeds that look it up (the same rows either way)
                typed = materialize(typed_reference(
                    delta_io.read(self.spark, self.uri("bronze", feed), self.read_versions[feed]), feed))
                delta_io.replace_if_changed(self.spark, typed, self.uri("silver", feed), name=feed)
                self.processed(progress, feed, runs)
                frames[feed] = typed
            else:
                frames[feed] = delta_io.read_or_empty(self.spark, self.uri("silver", feed))
        return frames

    def customers(self, progress: list) -> tuple[list, DataFrame, DataFrame]:
        versions_uri = self.uri("silver", "customer_versions")
        new, runs = self.new_bronze("customers")
        writes, new_versions = [], None
        all_versions = (delta_io.read(self.spark, versions_uri) if delta_io.stored_files(self.spark, versions_uri)
                        else None)
        if new is not None:
            checked, quality = self.check("customers", customers_silver.typed_customers(new, self.run_date))
            self.write_quarantine("customers", quarantine_rows(checked, "customers", "customer_id", self.run_id,
                                                               self.run_date), new)
            new_versions = self.materialize(customers_silver.customer_versions(passed(checked)))
            quality.rows_to_silver = quality.rows_in - quality.rows_quarantined
            all_versions = new_versions if all_versions is None else all_versions.unionByName(new_versions)
            # Versions of the runs being processed that an earlier, stopped attempt stored already are skipped.
            writes.append(("customer_versions", lambda: delta_io.append_new(
                self.spark, new_versions, versions_uri, ["source_file", "record_number"], name="customer_versions",
                scope=f"run_id IN ({sql_strings(runs)})")))
            self.processed(progress, "customers", runs)
        dim_uri, map_uri = self.uri("silver", "dim_customer"), self.uri("silver", "customer_id_map")
        # No customer version at all, or nothing new since the last complete build (the map is written
        # last): the stored tables are the answer.
        if all_versions is None or (new is None and delta_io.stored_files(self.spark, map_uri)):
            return writes, delta_io.read_or_empty(self.spark, dim_uri), delta_io.read_or_empty(self.spark, map_uri)
        if all_versions is not new_versions:      # the first delivery's versions are cached already
            all_versions = self.keep(all_versions)
        id_map = self.keep(customers_silver.customer_id_map(all_versions))
        empty_dim = self.spark.createDataFrame([], contract.DIM_CUSTOMER)
        dim = self.keep(customers_silver.scd2_merge(empty_dim, all_versions, id_map))
        old_map = delta_io.read_or_empty(self.spark, map_uri)
        merged = self.keep(customers_silver.merged_into_another(old_map, id_map))
        writes.append(("dim_customer", lambda: delta_io.replace_if_changed(self.spark, dim, dim_uri,
                                                                            name="dim_customer")))
        writes.append(("merged customers", lambda: self.move_merged_customers(merged)))
        # last: marks the build complete
        writes.append(("customer_id_map", lambda: delta_io.replace_if_changed(self.spark, id_map, map_uri,
                                                                               name="customer_id_map")))
        return writes, dim, id_map

    def move_merged_customers(self, merged: DataFrame) -> None:
        """Rows stored under an id that a new delivery merged into another move to the survivor (one MERGE
        per table, only when there is such an id; the change feed carries the move on to gold)."""
        if merged.isEmpty():
            return
        for table in ("transactions", "sales_lines"):
            delta_io.update_matching(self.spark, merged, self.uri("silver", table), "t.customer_id = s.customer_id",
                                     {"customer_id": "s.canonical_customer_id"}, name=table)

    def conformed_writes(self) -> list:
        """One write per conformed table for all channels of the run (their keys never collide: the channel
        is part of the key), instead of one per channel: fewer commits, one scan of the target's keys."""
        if not self.conformed:
            return []
        transactions = reduce(DataFrame.unionByName, [tx for tx, _ in self.conformed])
        lines = reduce(DataFrame.unionByName, [ln for _, ln in self.conformed])
        tx_uri, lines_uri = self.uri("silver", "transactions"), self.uri("silver", "sales_lines")
        # A day's keys are broadcast into the check against the stored keys; a backfill's may be too many.
        # Rows of more than a day's size (a first load, a backfill) span many dates: they are spread over
        # files by date (delta_io.laid_out), so that a read of some dates skips the other files.
        small = sum(q.rows_to_silver for q in self.result.feeds if q.feed in CHANNEL_FEEDS) <= BROADCAST_KEYS

        def write_transactions() -> None:
            self.evolve_transactions(tx_uri)
            delta_io.upsert_new_versions(
                self.spark, self.materialize(transactions), tx_uri, ["channel", "transaction_id"], VERSION_COLUMNS,
                name="transactions", broadcast_keys=small, spread=not small)

        return [
            ("transactions", write_transactions),
            ("sales_lines", lambda: delta_io.upsert_new_versions(
                self.spark, self.materialize(lines), lines_uri, ["channel", "transaction_id", "line_number"],
                VERSION_COLUMNS, name="sales_lines", parent_keys=["channel", "transaction_id"],
                broadcast_keys=small, spread=not small)),
        ]

    def evolve_transactions(self, tx_uri: str) -> None:
        """A ``transactions`` table written before the POS order columns existed gains them (null), and its
        stored POS rows take their values from ``silver/orders`` (each order's current state) in one MERGE,
        once: the change feed then carries them to gold like any other correction."""
        added = delta_io.add_missing_columns(self.spark, tx_uri, contract.TRANSACTIONS)
        pos_fields = [f.name for f in contract.POS_ORDER_FIELDS]
        if not set(pos_fields) & set(added):
            return
        try:
            orders = delta_io.read(self.spark, self.uri("silver", "orders"))
        except MissingTableError:       # no POS order so far: nothing to copy
            return
        current = orders.select(
            F.col("order_id").alias("transaction_id"), *pos_fields)
        delta_io.update_matching(self.spark, current, tx_uri, "t.channel = 'pos' AND t.transaction_id = s.transaction_id",
                                 {name: f"s.{name}" for name in pos_fields}, name="transactions", broadcast=False)

    def sales(self, reference: dict[str, DataFrame], id_map: DataFrame, progress: list) -> None:
        new, runs = self.new_bronze("sales")
        if new is None:
            return
        looked_up = sales_silver.with_sales_references(sales_silver.typed_sales(new), reference["products"], id_map,
                                                       reference["stores"], reference["sales_team"])
        checked, quality = self.check("sales", looked_up)
        self.write_quarantine("sales", quarantine_rows(checked, "sales", "transaction_id", self.run_id,
                                                       self.run_date), new)
        transactions, lines = sales_silver.sales_to_silver(sales_silver.latest_per_transaction(passed(checked)))
        transactions = self.keep(transactions)
        quality.rows_to_silver = transactions.count()
        self.processed(progress, "sales", runs)
        self.conformed.append((transactions, lines))

    def orders(self, reference: dict[str, DataFrame], dim: DataFrame, progress: list) -> None:
        new, runs = self.new_bronze("orders")
        if new is None:
            return
        looked_up = orders_silver.with_order_references(orders_silver.typed_orders(new), reference["products"], dim)
        checked, quality = self.check("orders", looked_up)
        self.write_quarantine("orders", quarantine_rows(checked, "orders", "order_id", self.run_id, self.run_date),
                              new)
        transactions, lines = orders_silver.orders_to_silver(orders_silver.latest_per_order(passed(checked)))
        transactions = self.keep(transactions)
        quality.rows_to_silver = transactions.count()
        self.processed(progress, "orders", runs)
        self.conformed.append((transactions, lines))

    def order_events(self, reference: dict[str, DataFrame], dim: DataFrame, progress: list) -> list:
        """Every version of the orders the new events touch is re-derived, so the current state is right
        whatever order versions arrive in; the quality counts cover those versions."""
        new, runs = self.new_bronze("order_events")
        if new is None:
            return []
        bronze = delta_io.read(self.spark, self.uri("bronze", "order_events"), self.read_versions["order_events"])
        order_id = F.col(f"{events_contract.ORDER_PATH}.orderID")
        touched = new.select(order_id.alias("_order")).filter(F.col("_order").isNotNull()).distinct()
        affected = (bronze.join(touched, order_id == F.col("_order"), "left_semi")
                    .unionByName(new.filter(order_id.isNull())))
        observation = Observation("dq_order_events")
        split = events_silver.split_order_events(
            affected, reference["products"], self.run_id, self.run_date,
            threshold=float(self.cfg.quality.fuzzy_match_threshold), rules=events_silver.order_event_rules(
                self.rules.get("order_events")), observation=observation, persist=self.keep)
        split.quarantine.count()   # the pass over the checked events that fills the observation
        quality = self.account("order_events", split.rules, observation.get)
        duplicates = split.duplicates.count()
        quality.rows_to_silver = quality.rows_in - quality.rows_quarantined
        quality.rows_in += duplicates       # the rules saw the events left after dropping repeated event_ids
        self.write_quarantine("order_events", split.quarantine, affected)
        phones = dim.filter("is_current").select("phone_number", "customer_id")
        orders = self.keep(split.orders)
        transactions, lines = events_silver.events_to_silver(orders, split.order_items, reference["stores"], phones)
        self.processed(progress, "order_events", runs)
        touched_ids = self.keep(orders.select("order_id"))

        def replace_children() -> None:
            delta_io.upsert(self.spark, orders, self.uri("silver", "orders"), ["order_id"], name="orders",
                            changed_when="NOT (s.stream_id <=> t.stream_id AND s.event_id <=> t.event_id)")
            # The children of the touched orders are replaced: in one commit per table (replaceWhere) when
            # the orders are few enough to name, else a delete of their rows and an append.
            ids = [r.order_id for r in touched_ids.limit(MAX_KEYS_IN_PREDICATE + 1).collect()]   # bounded
            for name in ("order_items", "order_item_addons", "order_taxes", "order_discounts"):
                uri, frame = self.uri("silver", name), getattr(split, name)
                if len(ids) <= MAX_KEYS_IN_PREDICATE:
                    delta_io.replace_where(self.spark, frame, uri, f"order_id IN ({sql_strings(ids)})"
                                           if ids else "false", name=name)
                else:
                    delta_io.delete_keys(self.spark, touched_ids, uri, ("order_id",), name=name)
                    delta_io.append(self.spark, frame, uri, name=name)
            delta_io.upsert(self.spark, split.restaurants, self.uri("silver", "restaurants"), ["rest_id"],
                            name="restaurants", changed_when="NOT (s.res_name <=> t.res_name AND s.address <=> "
                            "t.address AND s.contact_information <=> t.contact_information)")

        self.conformed.append((transactions, lines))
        return [("orders", replace_children)]

