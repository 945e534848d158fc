"""What every gold table shares: column types, the run-date cut, names, the customer as of D.

Kept in one place so that "a transaction up to D", "a full name" and "the
customer's record" mean the same thing in every table (METRICS.md conventions).
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Iterable

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from etl.contracts import require_columns as _require_columns

MONEY = "decimal(18,2)"
PERCENT = "decimal(9,2)"
DAYS = "decimal(9,2)"
COUNT = "int"
UNKNOWN = "Unknown"

TRANSACTION_COLUMNS = ("channel", "customer_id", "transaction_date", "amount", "is_revenue")
DIM_CUSTOMER_COLUMNS = ("customer_id", "first_name", "last_name", "address", "phone_number", "region",
                        "valid_from", "valid_to")


def require_columns(frame: DataFrame, names: Iterable[str], what: str) -> None:
    _require_columns(frame, names, what, "Pass the silver table with the columns of etl/contracts/silver.py.")


def check_run_date(run_date: date) -> None:
    if not isinstance(run_date, date):
        raise TypeError(f"run_date must be a datetime.date, got {type(run_date).__name__} {run_date!r}")


def revenue_up_to(transactions: DataFrame, run_date: date) -> DataFrame:
    """Rows that count in gold: ``is_revenue`` and dated on or before the run date."""
    return transactions.filter(F.col("is_revenue") & (F.col("transaction_date") <= F.lit(run_date)))


def month_of(day: Column | str) -> Column:
    """``yyyy-MM``, zero-padded."""
    return F.date_format(day, "yyyy-MM")


def month_start(day: date) -> date:
    return day.replace(day=1)


def last_30_days(run_date: date) -> tuple[date, date]:
    """``D-29 .. D``, both inclusive."""
    return run_date - timedelta(days=29), run_date


def full_name(first: str, last: str) -> Column:
    """``first_name || ' ' || last_name``, trimmed; ``Unknown`` when the reference row is missing."""
    name = F.trim(F.concat_ws(" ", F.col(first), F.col(last)))
    return F.when(name.isNull() | (name == ""), F.lit(UNKNOWN)).otherwise(name)


def customers_as_of(dim_customer: DataFrame, run_date: date) -> DataFrame:
    """One row per customer: the SCD2 version valid on the run date (``valid_from <= D < valid_to``).

    This is the current record whenever silver holds nothing dated after ``D``;
    reading it as of ``D`` keeps a rerun for an earlier date identical to the
    original run even after later customer changes arrived.
    """
    require_columns(dim_customer, DIM_CUSTOMER_COLUMNS, "dim_customer")
    return (dim_customer
            .filter((F.col("valid_from") <= F.lit(run_date)) & (F.col("valid_to") > F.lit(run_date)))
            .select("customer_id", full_name("first_name", "last_name").alias("full_name"),
                    "address", "phone_number", "region"))
