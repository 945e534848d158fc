"""The revenue forecast per channel and its backtest against the seasonal-naive forecast.

The model is statsmodels' ETS(A,Ad,A): additive errors, a damped additive trend and an additive
weekly season, fitted by maximum likelihood with the same settings every run (no random start, no
simulation), so the same series gives the same numbers. Its 80% prediction interval is the exact
(closed-form) one statsmodels gives for this additive-error model: forecast ± z(0.9) × the h-step
forecast standard deviation. See docs/gold/kpi_revenue_forecast.md for why this model.

The fitting is plain pandas (``forecast_series`` and ``backtest_series``, testable without Spark);
the Spark functions only cut the window, add the ``all`` series and call them per channel with
``groupBy('channel').applyInPandas`` (a series is at most 365 numbers).
"""

from __future__ import annotations

import logging
import warnings
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from etl.gold.common import check_run_date, require_columns

log = logging.getLogger(__name__)

HORIZON = 14                 # forecast D+1 .. D+14; the backtest holds out D-13 .. D
WINDOW_DAYS = 365            # the series: the 365 days ending D
MIN_FORECAST_DAYS = 28       # fewer days of history: no forecast rows
MIN_BACKTEST_DAYS = 56       # fewer: no backtest row
SEASON = 7
INTERVAL = 0.80
ALL = "all"
CENT = Decimal("0.01")
ZERO = Decimal("0")

MODEL_SETTINGS = dict(error="add", trend="add", damped_trend=True, seasonal="add", seasonal_periods=SEASON,
                      initialization_method="estimated")
FIT_SETTINGS = dict(disp=False, maxiter=1000)
MODEL_NAME = "ETS(A,Ad,A) m=7 statsmodels ETSModel, MLE, estimated init, exact 80% interval"

CHANNEL_DAILY_COLUMNS = ("date", "channel", "revenue")
FORECAST_DDL = ("channel string, date date, forecast decimal(18,2), lower_80 decimal(18,2), "
                "upper_80 decimal(18,2), model string, trained_from date, trained_to date")
BACKTEST_DDL = ("channel string, model string, mape_model decimal(9,2), mape_seasonal_naive decimal(9,2), "
                "mae_model decimal(18,2), mae_seasonal_naive decimal(18,2)")
FORECAST_COLUMNS = [part.strip().split(" ", 1)[0] for part in FORECAST_DDL.split(", ")]
BACKTEST_COLUMNS = ["channel", "model", "mape_model", "mape_seasonal_naive", "mae_model", "mae_seasonal_naive"]


# ----------------------------------------------------------------------------- pandas: the series and the model

def money(value: float | Decimal) -> Decimal:
    """A model figure as published: floored at 0, rounded half-up to cents (exact from the float)."""
    value = Decimal(value) if not isinstance(value, Decimal) else value
    return max(value, ZERO).quantize(CENT, ROUND_HALF_UP)


def daily_series(rows: pd.DataFrame, run_date: date) -> pd.Series:
    """One channel's revenue per day (``date``, ``revenue`` columns; Decimal or float) as a Series of
    Decimals indexed by date: from the first day with revenue in the 365 days ending
    ``run_date`` through ``run_date``, days without a row as 0. Empty when the channel has no revenue
    in the window."""
    first_day = run_date - timedelta(days=WINDOW_DAYS - 1)
    if rows.empty:
        return pd.Series([], dtype=object)
    frame = rows[(rows["date"] >= first_day) & (rows["date"] <= run_date)]
    values: dict[date, Decimal] = {}
    for day, revenue in zip(frame["date"], frame["revenue"]):
        values[day] = values.get(day, ZERO) + (Decimal(revenue) if revenue is not None else ZERO)
    active = sorted(day for day, value in values.items() if value != 0)
    if not active:
        return pd.Series([], dtype=object)
    days = [active[0] + timedelta(days=k) for k in range((run_date - active[0]).days + 1)]
    return pd.Series([values.get(day, ZERO) for day in days], index=days, dtype=object)


def _fit_and_forecast(values: list[Decimal], steps: int, channel: str) -> pd.DataFrame:
    """``steps`` forecasts with the 80% interval (floats) from ETS(A,Ad,A) fitted on ``values``.

    Convergence and similar warnings of the optimiser are counted and logged as one line instead of
    being printed one by one (the fit is still used: it is the likelihood's best point found)."""
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel

    endog = pd.Series([float(v) for v in values])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if endog.nunique() == 1:   # a constant series: ETS has nothing to estimate; it is its own forecast
            level = float(endog.iloc[0])
            frame = pd.DataFrame({"mean": [level] * steps, "pi_lower": [level] * steps, "pi_upper": [level] * steps})
        else:
            result = ETSModel(endog, **MODEL_SETTINGS).fit(**FIT_SETTINGS)
            frame = result.get_prediction(start=len(endog), end=len(endog) + steps - 1, method="exact") \
                .summary_frame(alpha=1 - INTERVAL)
    if caught:
        kinds = sorted({type(w.message).__name__ for w in caught})
        log.info("forecast %s: %d statsmodels warning(s) while fitting (%s); the fitted model is used",
                 channel, len(caught), ", ".join(kinds))
    return frame.reset_index(drop=True)[["mean", "pi_lower", "pi_upper"]]


def forecast_series(channel: str, series: pd.Series, run_date: date) -> pd.DataFrame:
    """The forecast rows of one channel (FORECAST_COLUMNS) for ``D+1 .. D+14``; none with fewer than
    ``MIN_FORECAST_DAYS`` days of history. ``series``: ``daily_series``'s output."""
    if len(series) < MIN_FORECAST_DAYS:
        return pd.DataFrame(columns=FORECAST_COLUMNS)
    predicted = _fit_and_forecast(list(series.values), HORIZON, channel)
    trained_from, trained_to = series.index[0], series.index[-1]
    rows = [(channel, run_date + timedelta(days=h + 1), money(p["mean"]), money(p["pi_lower"]),
             money(p["pi_upper"]), MODEL_NAME, trained_from, trained_to)
            for h, p in predicted.iterrows()]
    return pd.DataFrame(rows, columns=FORECAST_COLUMNS)


def seasonal_naive(train: list[Decimal], steps: int) -> list[Decimal]:
    """Each day of the horizon repeats the same weekday of the last week of ``train`` (forecast from the
    end of training, so it never sees the days it forecasts)."""
    last_week = train[-SEASON:]
    return [last_week[h % SEASON] for h in range(steps)]


def mape(actual: list[Decimal], predicted: list[Decimal]) -> Decimal | None:
    """Mean of |actual - predicted| / actual × 100 over the days whose actual revenue is not 0 (a day
    with 0 revenue has no percentage error; MAE counts it); null when every actual is 0."""
    terms = [abs(a - p) / a for a, p in zip(actual, predicted) if a != 0]
    if not terms:
        return None
    return (sum(terms, ZERO) * 100 / len(terms)).quantize(CENT, ROUND_HALF_UP)


def mae(actual: list[Decimal], predicted: list[Decimal]) -> Decimal:
    return (sum((abs(a - p) for a, p in zip(actual, predicted)), ZERO) / len(actual)).quantize(CENT, ROUND_HALF_UP)


def backtest_series(channel: str, series: pd.Series) -> pd.DataFrame:
    """One row (BACKTEST_COLUMNS): the model trained up to ``D-14`` and the seasonal-naive forecast,
    each scored on ``D-13 .. D``; no row with fewer than ``MIN_BACKTEST_DAYS`` days of history. The
    model's figures are the published ones (floored at 0, in cents)."""
    if len(series) < MIN_BACKTEST_DAYS:
        return pd.DataFrame(columns=BACKTEST_COLUMNS)
    values = list(series.values)
    train, actual = values[:-HORIZON], values[-HORIZON:]
    model = [money(v) for v in _fit_and_forecast(train, HORIZON, channel)["mean"]]
    naive = seasonal_naive(train, HORIZON)
    return pd.DataFrame([(channel, MODEL_NAME, mape(actual, model), mape(actual, naive), mae(actual, model),
                          mae(actual, naive))], columns=BACKTEST_COLUMNS)


# ----------------------------------------------------------------------------- Spark: thin wrappers

def _series_frame(channel_daily: DataFrame, run_date: date) -> DataFrame:
    """(channel, date, revenue) over the 365 days ending D, per channel and summed as ``all``."""
    require_columns(channel_daily, CHANNEL_DAILY_COLUMNS, "kpi_channel_daily")
    check_run_date(run_date)
    window = (channel_daily
              .filter(F.col("date").between(F.lit(run_date - timedelta(days=WINDOW_DAYS - 1)), F.lit(run_date)))
              .select("channel", "date", F.col("revenue").cast("decimal(18,2)").alias("revenue")))
    total = (window.groupBy("date").agg(F.sum("revenue").cast("decimal(18,2)").alias("revenue"))
             .select(F.lit(ALL).alias("channel"), "date", "revenue"))
    return window.unionByName(total)


def kpi_revenue_forecast(channel_daily: DataFrame, run_date: date) -> DataFrame:
    """Per channel and ``all``: revenue forecast for D+1 .. D+14 with its 80% interval."""
    def per_channel(rows: pd.DataFrame) -> pd.DataFrame:
        return forecast_series(rows["channel"].iloc[0], daily_series(rows, run_date), run_date)

    return _series_frame(channel_daily, run_date).groupBy("channel").applyInPandas(per_channel, FORECAST_DDL)


def forecast_backtest(channel_daily: DataFrame, run_date: date) -> DataFrame:
    """Per channel and ``all`` with 56+ days of history: model vs seasonal-naive over D-13 .. D."""
    def per_channel(rows: pd.DataFrame) -> pd.DataFrame:
        return backtest_series(rows["channel"].iloc[0], daily_series(rows, run_date))

    return _series_frame(channel_daily, run_date).groupBy("channel").applyInPandas(per_channel, BACKTEST_DDL)
