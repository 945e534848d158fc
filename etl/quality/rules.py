"""Row-level data-quality rules, declared in ``conf/quality_rules.yaml`` and evaluated in one projection.

Why configuration: the contract's rule table (DATA_CONTRACT.md, "Row-level
quality rules") changes more often than the code around it, and a rule is a
one-line Spark SQL condition over a feed's typed frame (typed columns next to
the raw strings, ``_raw_<col>``), so "missing or unparseable" is plain SQL.
A condition is TRUE when the row BREAKS the rule; NULL counts as passed.

Why ``observe``: the counts per rule (for ``dq_results`` and the error-rate
threshold) are collected by the same job that writes silver and quarantine, so
checking quality costs no extra pass over the data.

Flow for one feed::

    rules = load_rules(path)["sales"]
    obs = Observation()
    checked = apply_rules(typed, rules, run_date, observation=obs)   # + failed_errors, warnings
    ... write passed(checked) to silver, quarantine_rows(checked, ...) to quarantine ...
    results = dq_results(spark, obs.get, rules, run_id, run_date)    # after the first action
    problems = threshold_breaches(results.collect(), {"sales": rules})
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from fractions import Fraction
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Literal, Mapping

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pyspark.errors import AnalysisException
from pyspark.sql import Column, DataFrame, Observation, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import (ArrayType, DateType, LongType, StringType, StructField, StructType)

from etl.config import CONF_DIR
from etl.errors import ConfigError
from etl.silver.conform import to_schema

FEEDS = ("sales", "orders", "order_events", "customers")
DEFAULT_MAX_ERROR_RATE = Decimal("0.05")
DEFAULT_RULES_FILE = CONF_DIR / "quality_rules.yaml"

FAILED_ERRORS = "failed_errors"
WARNINGS = "warnings"
# The bronze row as it landed, kept as a struct by each feed's typed_* function for the quarantine.
BRONZE_ROW = "_bronze"

# Observed metric names next to the rule names; rule names start with a letter, so these cannot clash.
TOTAL_ROWS = "_total_rows"
ROWS_WITH_ERRORS = "_rows_with_errors"

PLACEHOLDER = re.compile(r"\$\{([^}]*)\}")
PLACEHOLDERS = ("run_date",)
RULE_NAME = re.compile(r"^[a-z][a-z0-9_]*$")

DQ_RESULTS_SCHEMA = StructType([
    StructField("run_id", StringType(), False),
    StructField("run_date", DateType(), False),
    StructField("feed", StringType(), False),
    StructField("rule", StringType(), False),         # a rule's name, or _rows_with_errors
    StructField("severity", StringType(), False),     # error | warn
    StructField("failed_rows", LongType(), False),
    StructField("total_rows", LongType(), False),
])

QUARANTINE_SCHEMA = StructType([
    StructField("feed", StringType(), False),
    StructField("record_key", StringType(), True),    # sale / order / customer id as delivered, when any
    StructField("failed_rules", ArrayType(StringType(), True), False),
    StructField("record", StringType(), True),        # the bronze row, to_json(struct(*))
    StructField("source_file", StringType(), True),
    StructField("record_number", LongType(), True),
    StructField("run_id", StringType(), False),       # the run that quarantined it
    StructField("run_date", DateType(), False),
])


class QualityRulesError(ConfigError):
    """The rules file is wrong, or a rule's condition cannot be evaluated on its feed."""


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    condition: str
    severity: str
    description: str | None = None

    @field_validator("name")
    @classmethod
    def _name_is_an_identifier(cls, value: str) -> str:
        if not RULE_NAME.match(value):
            raise ValueError(f"rule name '{value}' must be lower_snake_case (a-z, 0-9, _; starting with a letter)")
        return value

    @field_validator("condition")
    @classmethod
    def _condition_has_text_and_known_placeholders(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("condition is empty")
        unknown = sorted({p for p in PLACEHOLDER.findall(value) if p not in PLACEHOLDERS})
        if unknown:
            raise ValueError(f"unknown placeholder(s) {', '.join('${' + p + '}' for p in unknown)}; "
                             f"known: {', '.join('${' + p + '}' for p in PLACEHOLDERS)}")
        return value.strip()

    @field_validator("severity")
    @classmethod
    def _known_severity(cls, value: str) -> str:
        if value not in ("error", "warn"):
            raise ValueError(f"unknown severity '{value}': use error or warn")
        return value


class FeedRules(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    feed: str
    max_error_rate: Decimal = Field(DEFAULT_MAX_ERROR_RATE, ge=0, le=1)
    rules: tuple[Rule, ...] = ()

    @field_validator("max_error_rate", mode="before")
    @classmethod
    def _exact_rate(cls, value: Any) -> Any:
        # YAML gives 0.05 as a float; read its text so the threshold is exactly 5/100.
        return str(value) if isinstance(value, float) else value

    @model_validator(mode="after")
    def _unique_names(self) -> "FeedRules":
        seen: set[str] = set()
        for rule in self.rules:
            if rule.name in seen:
                raise ValueError(f"duplicate rule name '{rule.name}'")
            seen.add(rule.name)
        return self

    def of_severity(self, severity: Literal["error", "warn"]) -> tuple[Rule, ...]:
        return tuple(r for r in self.rules if r.severity == severity)


# -- loading ----------------------------------------------------------------------------------

def _where(feed: str, raw: Any, loc: tuple) -> str:
    """'sales rule #3 (quantity_not_positive) key severity' from a pydantic error location."""
    if len(loc) >= 2 and loc[0] == "rules" and isinstance(loc[1], int):
        entry = raw.get("rules", [])[loc[1]] if isinstance(raw, dict) else None
        name = entry.get("name") if isinstance(entry, dict) else None
        where = f"feed '{feed}' rule #{loc[1] + 1}" + (f" '{name}'" if name else "")
        return where + (f", key '{loc[2]}'" if len(loc) > 2 else "")
    return f"feed '{feed}'" + (f", key '{'.'.join(map(str, loc))}'" if loc else "")


def _message(error: dict) -> str:
    if error["type"] == "missing":
        return "missing"
    if error["type"] == "extra_forbidden":
        return "unknown key (allowed: name, condition, severity, description; per feed: max_error_rate, rules)"
    return re.sub(r"^Value error, ", "", error["msg"])


def parse_rules(data: Any, source: str = "quality rules") -> dict[str, FeedRules]:
    """Validate an already-parsed rules document (see ``load_rules``)."""
    if not isinstance(data, dict):
        raise QualityRulesError(f"{source}: expected a mapping of feed -> {{max_error_rate, rules}}")
    parsed: dict[str, FeedRules] = {}
    for feed, raw in data.items():
        if feed not in FEEDS:
            raise QualityRulesError(f"{source}: unknown feed '{feed}'; known feeds: {', '.join(FEEDS)}")
        body = raw if raw is not None else {}
        if not isinstance(body, dict):
            raise QualityRulesError(f"{source}: feed '{feed}' must be a mapping with max_error_rate and rules")
        try:
            parsed[feed] = FeedRules.model_validate({**body, "feed": feed})
        except ValidationError as exc:
            # A misspelt key also shows as "missing"; name the misspelling, it is the cause.
            first = sorted(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")[0]
            more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
            raise QualityRulesError(
                f"{source}: {_where(feed, body, tuple(first['loc']))}: {_message(first)}{more}") from None
    return parsed


def load_rules(path: str | Path) -> dict[str, FeedRules]:
    """Read and validate a rules file; raises QualityRulesError with one line naming the feed, rule and key."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise QualityRulesError(f"quality rules file {path} cannot be read: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise QualityRulesError(f"quality rules file {path} is not valid YAML: {exc}".replace("\n", " ")) from None
    return parse_rules(data, f"quality rules file {path}")


@lru_cache(maxsize=1)
def default_rules() -> dict[str, FeedRules]:
    """The project's ``conf/quality_rules.yaml`` (read once per process)."""
    return load_rules(DEFAULT_RULES_FILE)


# -- evaluating -------------------------------------------------------------------------------

def render_condition(rule: Rule, run_date: date) -> str:
    """The rule's SQL with ``${run_date}`` replaced by a DATE literal."""
    if not isinstance(run_date, date):
        raise TypeError(f"run_date must be a datetime.date, got {type(run_date).__name__} {run_date!r}")
    values = {"run_date": f"DATE'{run_date.isoformat()}'"}
    return PLACEHOLDER.sub(lambda m: values[m.group(1)], rule.condition)


def rule_condition(rule: Rule, run_date: date) -> Column:
    return F.expr(render_condition(rule, run_date))


def failed_names(rules: Iterable[Rule], run_date: date) -> Column:
    """array<string> of the names of the rules whose condition is TRUE (NULL passes)."""
    flagged = [F.when(rule_condition(r, run_date), F.lit(r.name)) for r in rules]
    # The trailing typed null keeps the element type string (and nullable) even with no rules.
    return F.filter(F.array(*flagged, F.lit(None).cast("string")), lambda name: name.isNotNull())


def _explain_failure(df: DataFrame, feed_rules: FeedRules, run_date: date, cause: Exception) -> QualityRulesError:
    for rule in feed_rules.rules:
        try:
            df.select(F.when(rule_condition(rule, run_date), F.lit(1)))
        except AnalysisException as exc:
            reason = str(exc).splitlines()[0]
            return QualityRulesError(
                f"quality rule '{rule.name}' of feed '{feed_rules.feed}' cannot be evaluated "
                f"(condition: {rule.condition}): {reason}")
    return QualityRulesError(f"quality rules of feed '{feed_rules.feed}' cannot be evaluated: "
                             f"{str(cause).splitlines()[0]}")


def apply_rules(df: DataFrame, feed_rules: FeedRules, run_date: date,
                observation: Observation | None = None) -> DataFrame:
    """``df`` plus ``failed_errors`` and ``warnings`` (array<string> of rule names), in one projection.

    With ``observation``, the frame also counts, while it is processed, the rows
    failing each rule, the rows with at least one error (``_rows_with_errors``)
    and all rows (``_total_rows``); read them with ``observation.get`` after the
    first action on the returned frame (or a frame derived from it).
    """
    clash = [c for c in (FAILED_ERRORS, WARNINGS) if c in df.columns]
    if clash:
        raise ValueError(f"the frame for feed '{feed_rules.feed}' already has column(s) {', '.join(clash)}")
    try:
        checked = df.select(
            "*",
            failed_names(feed_rules.of_severity("error"), run_date).alias(FAILED_ERRORS),
            failed_names(feed_rules.of_severity("warn"), run_date).alias(WARNINGS),
        )
    except AnalysisException as exc:
        raise _explain_failure(df, feed_rules, run_date, exc) from None
    if observation is None:
        return checked
    return checked.observe(observation, *rule_metrics(feed_rules))


def rule_metrics(feed_rules: FeedRules) -> list[Column]:
    """Aggregates for ``DataFrame.observe`` over a frame from ``apply_rules``."""
    per_rule = [
        F.count_if(F.array_contains(FAILED_ERRORS if r.severity == "error" else WARNINGS, r.name)).alias(r.name)
        for r in feed_rules.rules
    ]
    return [F.count(F.lit(1)).alias(TOTAL_ROWS),
            F.count_if(F.size(FAILED_ERRORS) > 0).alias(ROWS_WITH_ERRORS),
            *per_rule]


def passed(checked: DataFrame) -> DataFrame:
    """Rows that failed no error rule (warnings allowed): the ones that go on to silver."""
    return checked.filter(F.size(FAILED_ERRORS) == 0)


# -- results ----------------------------------------------------------------------------------

def dq_result_rows(metrics: Mapping[str, int], feed_rules: FeedRules, run_id: str,
                   run_date: date) -> list[tuple]:
    """One tuple per rule (config order) plus ``_rows_with_errors``, in DQ_RESULTS_SCHEMA's column order."""
    missing = [n for n in (TOTAL_ROWS, ROWS_WITH_ERRORS, *(r.name for r in feed_rules.rules)) if n not in metrics]
    if missing:
        raise ValueError(f"observed metrics for feed '{feed_rules.feed}' lack {', '.join(missing)}: "
                         "were they observed with apply_rules(..., observation=) on the same rules?")
    total = int(metrics[TOTAL_ROWS])
    rows = [(run_id, run_date, feed_rules.feed, r.name, r.severity, int(metrics[r.name]), total)
            for r in feed_rules.rules]
    rows.append((run_id, run_date, feed_rules.feed, ROWS_WITH_ERRORS, "error", int(metrics[ROWS_WITH_ERRORS]),
                 total))
    return rows


def dq_results(spark: SparkSession, metrics: Mapping[str, int], feed_rules: FeedRules, run_id: str,
               run_date: date) -> DataFrame:
    """The observed counts as ``dq_results`` rows (DQ_RESULTS_SCHEMA)."""
    return spark.createDataFrame(dq_result_rows(metrics, feed_rules, run_id, run_date), DQ_RESULTS_SCHEMA)


def _as_dict(row: Any) -> dict:
    return row.asDict() if hasattr(row, "asDict") else dict(row)


def threshold_breaches(results: DataFrame | Iterable[Any],
                       feed_rules: Mapping[str, FeedRules] | FeedRules) -> list[str]:
    """One message per feed whose rows with an error / total rows exceed its ``max_error_rate``.

    ``results``: ``dq_results`` rows (a DataFrame, Rows or dicts); ``feed_rules``: one
    feed's rules or a ``load_rules`` mapping; feeds absent from it use the default
    rate. Empty feeds never breach.
    """
    if isinstance(feed_rules, FeedRules):
        feed_rules = {feed_rules.feed: feed_rules}
    rows = [_as_dict(r) for r in (results.collect() if isinstance(results, DataFrame) else results)]
    messages = []
    for feed in sorted({r["feed"] for r in rows}):
        of_feed = [r for r in rows if r["feed"] == feed]
        summary = [r for r in of_feed if r["rule"] == ROWS_WITH_ERRORS]
        if not summary:
            raise ValueError(f"dq_results for feed '{feed}' lack the {ROWS_WITH_ERRORS} row")
        error_rows, total = int(summary[0]["failed_rows"]), int(summary[0]["total_rows"])
        rate = feed_rules[feed].max_error_rate if feed in feed_rules else DEFAULT_MAX_ERROR_RATE
        if total == 0 or Fraction(error_rows, total) <= Fraction(rate):
            continue
        by_rule = ", ".join(f"{r['rule']} {r['failed_rows']}" for r in of_feed
                            if r["severity"] == "error" and r["rule"] != ROWS_WITH_ERRORS and r["failed_rows"] > 0)
        messages.append(
            f"feed '{feed}': {error_rows} of {total} rows ({100 * error_rows / total:.2f}%) failed an error rule, "
            f"above max_error_rate {rate * 100:.2f}%; failed rows by rule: {by_rule}")
    return messages


# -- quarantine -------------------------------------------------------------------------------

def bronze_row(bronze: DataFrame) -> Column:
    """The whole bronze row as one struct (``_bronze``), carried to the quarantine as JSON."""
    return F.struct(*[F.col(f"`{c}`") for c in bronze.columns]).alias(BRONZE_ROW)


def quarantine_rows(checked: DataFrame, feed: str, record_key: str | Column, run_id: str,
                    run_date: date) -> DataFrame:
    """Rows of ``checked`` that failed an error rule, as QUARANTINE_SCHEMA.

    ``checked`` comes from ``apply_rules`` over a typed frame that kept ``_bronze``
    (``bronze_row``), ``source_file`` and ``record_number``.
    """
    for needed in (FAILED_ERRORS, BRONZE_ROW, "source_file", "record_number"):
        if needed not in checked.columns:
            raise ValueError(f"the checked frame for feed '{feed}' lacks column {needed}")
    key = F.col(record_key) if isinstance(record_key, str) else record_key
    rows = checked.filter(F.size(FAILED_ERRORS) > 0).select(
        F.lit(feed).alias("feed"),
        key.cast("string").alias("record_key"),
        F.col(FAILED_ERRORS).alias("failed_rules"),
        F.to_json(F.col(BRONZE_ROW)).alias("record"),
        F.col("source_file").cast("string").alias("source_file"),
        F.col("record_number").cast("long").alias("record_number"),
        F.lit(run_id).alias("run_id"),
        F.lit(run_date).alias("run_date"),
    )
    return to_schema(rows, QUARANTINE_SCHEMA, f"quarantine of feed '{feed}'")
