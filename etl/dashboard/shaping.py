"""What each page shows, from query results: pure functions, pandas in and pandas out (unit tested).

Numbers are shown as the Excel report formats them (etl/export/excel.py): money ``#,##0.00``,
counts ``#,##0``, percentages with two decimals and a ``%`` (the lake holds them ×100: 47.19 is
47.19 %), ratios with four decimals, day counts with two decimals and ``days``.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

import pandas as pd

from etl.export.excel import PERCENT_PREFIXES, PERCENT_SUFFIXES, is_day_count

CENT = Decimal("0.01")
DAY_NAMES = {1: "Sun", 2: "Mon", 3: "Tue", 4: "Wed", 5: "Thu", 6: "Fri", 7: "Sat"}   # Spark's dayofweek: 1 = Sunday
UNKNOWN = "Unknown"
RATIO_COLUMNS = ("support", "confidence_a_to_b", "confidence_b_to_a", "lift")


# -- formatting ------------------------------------------------------------------------------------

def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and value != value) or value is pd.NA or value is pd.NaT


def money(value) -> str:
    return "" if _missing(value) else f"{Decimal(str(value)).quantize(CENT, ROUND_HALF_UP):,.2f}"


def count(value) -> str:
    return "" if _missing(value) else f"{int(value):,}"


def percent(value) -> str:
    """A lake percentage (×100) as Excel's ``0.00%`` shows it."""
    return "" if _missing(value) else f"{Decimal(str(value)).quantize(CENT, ROUND_HALF_UP):,.2f}%"


def ratio(value) -> str:
    return "" if _missing(value) else f"{Decimal(str(value)).quantize(Decimal('0.0001'), ROUND_HALF_UP)}"


def days(value) -> str:
    return "" if _missing(value) else f"{Decimal(str(value)).quantize(CENT, ROUND_HALF_UP):,.2f} days"


def formatter(column: str, sample=None):
    """The format of a served column, by the same name rules as the Excel report (None: as it is)."""
    if column.endswith(PERCENT_SUFFIXES) or column.startswith(PERCENT_PREFIXES):
        return percent
    if column in RATIO_COLUMNS:
        return ratio
    if is_day_count(column):
        return days
    if isinstance(sample, Decimal):
        return money
    return None


def formatted(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with its numbers as text in the report's formats (for tables; charts take the numbers)."""
    out = frame.copy()
    for column in out.columns:
        sample = next((v for v in out[column] if not _missing(v)), None)
        fmt = formatter(column, sample)
        if fmt is not None:
            out[column] = out[column].map(fmt)
        elif isinstance(sample, (int,)) and not isinstance(sample, bool) and not column.endswith(("_id", "_rank")) \
                and column not in ("hour", "day_of_week", "month_offset", "r_score", "f_score", "m_score"):
            out[column] = out[column].map(count)
    return out


def numeric(frame: pd.DataFrame, *columns: str) -> pd.DataFrame:
    """Decimal columns as floats, for charts only (figures shown as text keep their exact Decimal)."""
    out = frame.copy()
    for column in columns:
        out[column] = pd.to_numeric(out[column].map(lambda v: None if _missing(v) else float(v)), errors="coerce")
    return out


# -- Overview ----------------------------------------------------------------------------------------

def headline(daily: pd.DataFrame, monthly: pd.DataFrame, regions: pd.DataFrame, run_date: date) -> dict:
    """The Excel Summary's figures for ``run_date`` (etl/export/report.py ``_headline``), as Decimals and ints."""
    day = daily[daily["sales_date"] == run_date]
    month = monthly[monthly["sales_month"] == f"{run_date:%Y-%m}"]
    revenue_mtd = month["revenue"].iloc[0] if len(month) else Decimal("0.00")
    orders_mtd = int(month["order_count"].iloc[0]) if len(month) else 0
    named = regions[regions["region"] != UNKNOWN] if len(regions) else regions
    top = (named if len(named) else regions).head(1)
    return {
        "run_date": run_date,
        "revenue_day": day["revenue"].iloc[0] if len(day) else Decimal("0.00"),
        "orders_day": int(day["order_count"].iloc[0]) if len(day) else 0,
        "revenue_mtd": revenue_mtd,
        "orders_mtd": orders_mtd,
        "avg_order_value_mtd": (Decimal(revenue_mtd) / orders_mtd).quantize(CENT, ROUND_HALF_UP) if orders_mtd else None,
        "customers_mtd": int(month["unique_customers"].iloc[0]) if len(month) else 0,
        "top_region": top["region"].iloc[0] if len(top) else None,
        "top_region_revenue": top["revenue"].iloc[0] if len(top) else None,
    }


HEADLINE_LABELS = {
    "revenue_day": ("Revenue on the run date", money),
    "orders_day": ("Orders on the run date", count),
    "revenue_mtd": ("Revenue, month to date", money),
    "orders_mtd": ("Orders, month to date", count),
    "avg_order_value_mtd": ("Average order value, month to date", money),
    "customers_mtd": ("Customers with orders, month to date", count),
    "top_region": ("Top region, month to date", lambda v: v or "n/a"),
    "top_region_revenue": ("Top region revenue, month to date", money),
}


def headline_text(figures: dict) -> list[tuple[str, str]]:
    """(label, value as the report shows it), in the Summary's order."""
    return [(label, fmt(figures[key])) for key, (label, fmt) in HEADLINE_LABELS.items()]


def revenue_lines(daily: pd.DataFrame) -> pd.DataFrame:
    """Long frame (sales_date, series, value): the day's revenue and the 7-day average (revenue_7d / 7)."""
    if daily.empty:
        return pd.DataFrame(columns=["sales_date", "series", "value"])
    frame = numeric(daily, "revenue", "revenue_7d")
    frame["7-day average"] = frame["revenue_7d"] / 7
    frame = frame.rename(columns={"revenue": "Revenue"})
    long = frame.melt(id_vars=["sales_date"], value_vars=["Revenue", "7-day average"], var_name="series",
                      value_name="value")
    long["sales_date"] = pd.to_datetime(long["sales_date"])
    return long


def anomalies(daily: pd.DataFrame) -> pd.DataFrame:
    """The days the sales-drop test marked (is_anomaly = 1), for the chart's markers."""
    if daily.empty:
        return pd.DataFrame(columns=["sales_date", "value"])
    marked = numeric(daily[daily["is_anomaly"].astype(bool)], "revenue")
    out = pd.DataFrame({"sales_date": pd.to_datetime(marked["sales_date"]), "value": marked["revenue"]})
    return out.reset_index(drop=True)


def forecast_band(forecast: pd.DataFrame, channel: str = "all") -> pd.DataFrame:
    """(forecast_date, forecast, lower_80, upper_80) of one channel, as floats for the band chart."""
    if forecast.empty:
        return pd.DataFrame(columns=["forecast_date", "forecast", "lower_80", "upper_80"])
    one = forecast[forecast["channel"] == channel][["forecast_date", "forecast", "lower_80", "upper_80"]]
    one = numeric(one, "forecast", "lower_80", "upper_80")
    one["forecast_date"] = pd.to_datetime(one["forecast_date"])
    return one.reset_index(drop=True)


# -- Customers ---------------------------------------------------------------------------------------

def rfm_segments(rfm: pd.DataFrame) -> pd.DataFrame:
    """Customers and spend per RFM segment, most customers first."""
    if rfm.empty:
        return pd.DataFrame(columns=["rfm_segment", "customers", "monetary"])
    grouped = rfm.groupby("rfm_segment", as_index=False).agg(customers=("customer_id", "count"),
                                                             monetary=("monetary", lambda s: sum(s, Decimal(0))))
    return grouped.sort_values(["customers", "rfm_segment"], ascending=[False, True]).reset_index(drop=True)


def cohort_matrix(cohorts: pd.DataFrame) -> pd.DataFrame:
    """Long (cohort_month, month_offset, retention_pct as float) for the triangle heatmap; no cell past the data."""
    if cohorts.empty:
        return pd.DataFrame(columns=["cohort_month", "month_offset", "retention_pct"])
    return numeric(cohorts[["cohort_month", "month_offset", "retention_pct"]], "retention_pct").reset_index(drop=True)


# -- Sales team --------------------------------------------------------------------------------------

def leaderboard(team: pd.DataFrame, month: str) -> pd.DataFrame:
    """One month's salespeople per store by rank, with incentive and growth."""
    columns = ["store_id", "top_performance_rank", "sales_person_id", "full_name", "total_sales", "incentive",
               "sales_growth_rate", "sales_contribution_percentage"]
    if team.empty:
        return pd.DataFrame(columns=columns)
    one = team[team["sales_month"] == month][columns]
    return one.sort_values(["store_id", "top_performance_rank", "sales_person_id"]).reset_index(drop=True)


def ytd_lines(team: pd.DataFrame) -> pd.DataFrame:
    """(sales_month, person, year_to_date_sales as float): one line per salesperson (and store)."""
    if team.empty:
        return pd.DataFrame(columns=["sales_month", "person", "year_to_date_sales"])
    frame = numeric(team, "year_to_date_sales")
    frame["person"] = frame["full_name"].fillna(frame["sales_person_id"].astype(str)) + " (" + \
        frame["store_id"].astype(str) + ")"
    return frame[["sales_month", "person", "year_to_date_sales"]].reset_index(drop=True)


# -- Orders and menu ---------------------------------------------------------------------------------

def channel_mix(channel_daily: pd.DataFrame) -> pd.DataFrame:
    """Long (sales_date, channel, revenue, avg_order_value) floats, for the mix and order-value charts."""
    if channel_daily.empty:
        return pd.DataFrame(columns=["sales_date", "channel", "revenue", "avg_order_value"])
    frame = numeric(channel_daily, "revenue", "avg_order_value")[["sales_date", "channel", "revenue", "avg_order_value"]]
    frame["sales_date"] = pd.to_datetime(frame["sales_date"])
    return frame.reset_index(drop=True)


def mix_of(order_mix: pd.DataFrame, dimension: str) -> pd.DataFrame:
    """Order count and revenue per value of one dimension (order_type, payment_type, ...) over the months."""
    if order_mix.empty:
        return pd.DataFrame(columns=["value", "order_count", "revenue"])
    one = order_mix[order_mix["dimension"] == dimension]
    grouped = one.groupby("value", as_index=False).agg(order_count=("order_count", "sum"),
                                                       revenue=("revenue", lambda s: sum(s, Decimal(0))))
    return grouped.sort_values(["order_count", "value"], ascending=[False, True]).reset_index(drop=True)


def peak_matrix(peak: pd.DataFrame) -> pd.DataFrame:
    """Long (day, hour, avg_orders_per_day) with day names, for the heatmap."""
    if peak.empty:
        return pd.DataFrame(columns=["day", "day_of_week", "hour", "avg_orders_per_day"])
    frame = numeric(peak, "avg_orders_per_day")
    frame["day"] = frame["day_of_week"].map(DAY_NAMES)
    return frame[["day", "day_of_week", "hour", "avg_orders_per_day"]].reset_index(drop=True)


def underperforming(menu: pd.DataFrame) -> pd.DataFrame:
    if menu.empty:
        return menu
    return menu[menu["underperforming"].astype(bool)].reset_index(drop=True)


# -- Data health -------------------------------------------------------------------------------------

def _json(value, default):
    if _missing(value):
        return default
    try:
        return json.loads(value) if isinstance(value, (str, bytes)) else value
    except ValueError:
        return default


def stage_durations(runs: pd.DataFrame) -> pd.DataFrame:
    """Long (run_id, stage, seconds) from each run's ``stage_seconds`` JSON."""
    rows = [(run, stage, float(seconds)) for run, value in zip(runs.get("run_id", []), runs.get("stage_seconds", []))
            for stage, seconds in _json(value, {}).items()]
    return pd.DataFrame(rows, columns=["run_id", "stage", "seconds"])


def rows_per_layer(runs: pd.DataFrame) -> pd.DataFrame:
    """(run_id, layer, rows_out, rows_quarantined) summed over each layer's tables (``table_rows`` JSON)."""
    rows = []
    for run, value in zip(runs.get("run_id", []), runs.get("table_rows", [])):
        for entry in _json(value, []):
            layer, _table, _rows_in, rows_out, quarantined = (list(entry) + [None] * 5)[:5]
            rows.append((run, layer, rows_out or 0, quarantined or 0))
    frame = pd.DataFrame(rows, columns=["run_id", "layer", "rows_out", "rows_quarantined"])
    return frame.groupby(["run_id", "layer"], as_index=False, sort=False).sum() if len(frame) else frame


def run_summary(runs: pd.DataFrame) -> pd.DataFrame:
    """The run list as shown: duration in seconds from start and end."""
    if runs.empty:
        return pd.DataFrame(columns=["run_id", "run_date", "run_trigger", "status", "stages", "started_at",
                                     "seconds", "error"])
    out = runs.copy()
    out["seconds"] = [round((end - start).total_seconds(), 1) if not (_missing(start) or _missing(end)) else None
                      for start, end in zip(out["started_at"], out["ended_at"])]
    return out[["run_id", "run_date", "run_trigger", "status", "stages", "started_at", "seconds", "error"]]


QUARANTINE_COLUMNS = ["run_date", "feed", "rule", "severity", "failed_rows", "total_rows", "run_id"]


def quarantine_per_rule(dq: pd.DataFrame) -> pd.DataFrame:
    """Rows each rule failed per run date and feed, from ``dq_results``: the newest run of a date (run ids
    sort by start time; a rerun's counts replace the first run's), the rules only (``_rows_with_errors``,
    the rows failing any error rule, is the runs' "quarantined" already)."""
    if dq.empty:
        return pd.DataFrame(columns=QUARANTINE_COLUMNS)
    rules = dq[~dq["rule"].astype(str).str.startswith("_")]
    newest = dq.groupby(["run_date", "feed"])["run_id"].max().rename("newest").reset_index()
    out = rules.merge(newest, on=["run_date", "feed"])
    out = out[out["run_id"] == out["newest"]]
    return out[QUARANTINE_COLUMNS].sort_values(["run_date", "feed", "rule"]).reset_index(drop=True)


def freshness(loads: pd.DataFrame, today: date) -> dict:
    """Is the newest loaded run date yesterday (the daily schedule's target) or later?"""
    if loads.empty:
        return {"fresh": False, "last_run_date": None, "last_load": None, "days_behind": None}
    last = max(loads["run_date"])
    last_load = max(loads["loaded_at"])
    behind = (today - timedelta(days=1) - last).days
    return {"fresh": behind <= 0, "last_run_date": last, "last_load": last_load, "days_behind": max(behind, 0)}


def month_range(start: date, end: date) -> tuple[str, str]:
    return f"{start:%Y-%m}", f"{end:%Y-%m}"


def as_date(value) -> date | None:
    if _missing(value):
        return None
    return value.date() if isinstance(value, datetime) else value
