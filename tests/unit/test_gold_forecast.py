"""kpi_revenue_forecast and forecast_backtest (METRICS.md, order analytics).

The model fitting is pandas in, pandas out (``forecast_series``, ``backtest_series``), tested here
without Spark; the Spark tests check the thin wrapper: the 365-day window, the ``all`` series as the
sum of the channels, the column types, and that two runs give identical rows.

Synthetic truth: revenue = 1000 + 4 × day + weekly pattern (Mon..Sun -120, -120, -80, -40, 60, 180,
120), plus a seeded normal noise of standard deviation 25 where stated.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal as D

import numpy as np
import pandas as pd
import pytest

from etl.gold.forecast import (ALL, FORECAST_COLUMNS, HORIZON, MODEL_NAME, backtest_series, daily_series,
                               forecast_backtest, forecast_series, kpi_revenue_forecast, mae, mape, money,
                               seasonal_naive)

RUN_DATE = date(2026, 6, 30)
WEEK = [-120, -120, -80, -40, 60, 180, 120]


def truth(day: date, start: date) -> float:
    return 1000 + 4 * (day - start).days + WEEK[day.weekday()]


def series_frame(days: int, noise: float = 25.0, seed: int = 1, run_date: date = RUN_DATE,
                 level=truth) -> tuple[pd.DataFrame, date]:
    """``days`` days of revenue ending ``run_date`` as kpi_channel_daily gives them (Decimal cents)."""
    start = run_date - timedelta(days=days - 1)
    rng = np.random.default_rng(seed)
    dates = [start + timedelta(days=k) for k in range(days)]
    revenue = [D(f"{max(level(d, start) + rng.normal(0, noise), 0):.2f}") for d in dates]
    return pd.DataFrame({"date": dates, "revenue": revenue}), start


# ----------------------------------------------------------------------------- the model on known series

def test_forecast_lies_within_5_percent_of_the_trend_and_season_it_was_shown():
    rows, start = series_frame(180)
    forecast = forecast_series("pos", daily_series(rows, RUN_DATE), RUN_DATE)
    assert list(forecast["date"]) == [RUN_DATE + timedelta(days=h) for h in range(1, HORIZON + 1)]
    for day, value, low, high in zip(forecast["date"], forecast["forecast"], forecast["lower_80"],
                                     forecast["upper_80"]):
        expected = truth(day, start)
        assert abs(float(value) - expected) <= 0.05 * expected, (day, value, expected)
        assert low <= value <= high
    # The weekly shape is found: every Saturday is forecast above the Monday before it.
    by_day = dict(zip(forecast["date"], forecast["forecast"]))
    saturdays = [d for d in by_day if d.weekday() == 5 and d - timedelta(days=5) in by_day]
    assert saturdays and all(by_day[d] > by_day[d - timedelta(days=5)] + 200 for d in saturdays)


def test_interval_is_the_80_percent_one_it_covers_about_80_percent_of_noisy_truth():
    covered = total = 0
    for seed in range(1, 6):
        rows, start = series_frame(180 + HORIZON, seed=seed)
        history = rows.iloc[:-HORIZON]
        last = history["date"].iloc[-1]
        forecast = forecast_series("pos", daily_series(history, last), last)
        actual = dict(zip(rows["date"], rows["revenue"]))
        for day, low, high in zip(forecast["date"], forecast["lower_80"], forecast["upper_80"]):
            covered += low <= actual[day] <= high
            total += 1
    assert 0.6 <= covered / total <= 0.95, covered / total


def test_model_beats_the_seasonal_naive_forecast_on_a_trend_with_a_weekly_season():
    rows, _ = series_frame(180)
    backtest = backtest_series("pos", daily_series(rows, RUN_DATE))
    assert len(backtest) == 1
    row = backtest.iloc[0]
    assert row["model"] == MODEL_NAME
    assert row["mape_model"] < row["mape_seasonal_naive"]
    assert row["mae_model"] < row["mae_seasonal_naive"]
    # The naive forecast lags the trend by one or two weeks: 4 × 7 .. 4 × 14 a day.
    assert D("28") <= row["mae_seasonal_naive"] <= D("70")


# ----------------------------------------------------------------------------- history thresholds

def test_fewer_than_28_days_give_no_forecast_rows_and_28_give_14():
    short, _ = series_frame(27)
    assert forecast_series("pos", daily_series(short, RUN_DATE), RUN_DATE).empty
    enough, _ = series_frame(28)
    forecast = forecast_series("pos", daily_series(enough, RUN_DATE), RUN_DATE)
    assert len(forecast) == HORIZON
    assert list(forecast.columns) == FORECAST_COLUMNS
    assert set(forecast["trained_from"]) == {RUN_DATE - timedelta(days=27)}
    assert set(forecast["trained_to"]) == {RUN_DATE}


def test_28_to_55_days_give_a_forecast_but_no_backtest_and_56_give_one():
    for days in (28, 55):
        rows, _ = series_frame(days)
        series = daily_series(rows, RUN_DATE)
        assert len(forecast_series("pos", series, RUN_DATE)) == HORIZON, days
        assert backtest_series("pos", series).empty, days
    rows, _ = series_frame(56)
    assert len(backtest_series("pos", daily_series(rows, RUN_DATE))) == 1


def test_history_starts_at_the_first_day_with_revenue_and_spans_at_most_365_days():
    rows, _ = series_frame(30)
    zeros = pd.DataFrame({"date": [RUN_DATE - timedelta(days=k) for k in range(30, 100)], "revenue": [D("0.00")] * 70})
    series = daily_series(pd.concat([zeros, rows]), RUN_DATE)
    assert series.index[0] == RUN_DATE - timedelta(days=29) and len(series) == 30
    long_rows, _ = series_frame(400, noise=0)
    after = pd.DataFrame({"date": [RUN_DATE + timedelta(days=1)], "revenue": [D("99999.00")]})
    series = daily_series(pd.concat([long_rows, after]), RUN_DATE)
    assert series.index[0] == RUN_DATE - timedelta(days=364) and series.index[-1] == RUN_DATE
    assert len(series) == 365
    # A day missing inside the history counts as 0.
    gap = rows[rows["date"] != RUN_DATE - timedelta(days=3)]
    assert daily_series(gap, RUN_DATE)[RUN_DATE - timedelta(days=3)] == 0


def test_forecast_and_interval_are_floored_at_zero():
    # A business closing down: revenue falls by 30 a day to about 0 at D, then the trend points below 0.
    rows, _ = series_frame(60, noise=10, level=lambda day, start: 1800 - 30 * (day - start).days)
    forecast = forecast_series("pos", daily_series(rows, RUN_DATE), RUN_DATE)
    for column in ("forecast", "lower_80", "upper_80"):
        assert all(value >= 0 for value in forecast[column]), column
    assert (forecast["lower_80"] == D("0.00")).any() and (forecast["forecast"] == D("0.00")).any()


# ----------------------------------------------------------------------------- the backtest's arithmetic

def test_seasonal_naive_repeats_the_last_training_week_for_both_weeks():
    train = [D(v) for v in range(1, 22)]            # 3 weeks: the last one is 15 .. 21
    assert seasonal_naive(train, 14) == [D(v) for v in list(range(15, 22)) * 2]


def test_mape_leaves_out_days_with_zero_revenue_and_mae_counts_them():
    actual = [D("0.00"), D("100.00"), D("200.00")]
    predicted = [D("10.00"), D("110.00"), D("180.00")]
    assert mape(actual, predicted) == D("10.00")            # (10% + 10%) / 2; the 0 day has no percentage
    assert mae(actual, predicted) == D("13.33")             # (10 + 10 + 20) / 3
    assert mape([D("0.00")] * 3, predicted) is None
    assert mape([D("3.00")], [D("2.00")]) == D("33.33")
    assert mape([D("8.00")], [D("7.00")]) == D("12.50")     # 12.5 exactly: half-up, not to even


def test_published_figures_round_half_up_to_cents_and_floor_at_zero():
    assert money(0.125) == D("0.13")                          # 0.125 is exact in binary
    assert money(2.675) == D("2.67")                          # the float is 2.67499999...: exact value
    assert money(-3.5) == D("0.00")
    assert money(D("10.005")) == D("10.01")


# ----------------------------------------------------------------------------- Spark: the two tables

CHANNEL_DAILY_DDL = ("date date, channel string, order_count int, revenue decimal(18,2), avg_order_value "
                     "decimal(18,2), cancelled_orders int, revenue_28d decimal(18,2), order_count_28d int, "
                     "avg_order_value_28d decimal(18,2)")


def channel_daily_rows() -> list[tuple]:
    """400 days for in_store (the window cuts 365), 70 for pos (forecast and backtest), 40 days of
    online revenue after zeros (forecast only); zeros where a channel has nothing, as kpi_channel_daily."""
    first = RUN_DATE - timedelta(days=399)
    rows = []
    rng = np.random.default_rng(9)
    for k in range(400):
        day = first + timedelta(days=k)
        values = {"in_store": max(truth(day, first) + rng.normal(0, 25), 0),
                  "pos": (500 + 2 * k + WEEK[day.weekday()] / 2 + rng.normal(0, 10)) if k >= 330 else 0,
                  "online": (200 + WEEK[day.weekday()] / 4 + rng.normal(0, 5)) if k >= 360 else 0}
        for channel, value in values.items():
            revenue = D(f"{value:.2f}")
            rows.append((day, channel, 1 if value else 0, revenue, None, 0, None, None, None))
    return rows


@pytest.fixture(scope="module")
def channel_daily(spark):
    return spark.createDataFrame(channel_daily_rows(), CHANNEL_DAILY_DDL).cache()


def summed_series(rows: list[tuple]) -> pd.DataFrame:
    frame = pd.DataFrame([(r[0], r[3]) for r in rows], columns=["date", "revenue"])
    return frame.groupby("date", as_index=False)["revenue"].agg(lambda v: sum(v, D(0)))


def test_forecast_table_per_channel_and_all_with_the_registry_types(spark, channel_daily):
    forecast = kpi_revenue_forecast(channel_daily, RUN_DATE)
    assert forecast.schema == spark.createDataFrame([], (
        "channel string, date date, forecast decimal(18,2), lower_80 decimal(18,2), upper_80 decimal(18,2), "
        "model string, trained_from date, trained_to date")).schema
    rows = forecast.collect()
    by_channel = {}
    for row in rows:
        by_channel.setdefault(row.channel, []).append(row)
    assert {c: len(r) for c, r in by_channel.items()} == {"in_store": 14, "pos": 14, "online": 14, ALL: 14}
    trained = {c: {(r.trained_from, r.trained_to) for r in rs} for c, rs in by_channel.items()}
    assert trained == {"in_store": {(RUN_DATE - timedelta(days=364), RUN_DATE)},
                       ALL: {(RUN_DATE - timedelta(days=364), RUN_DATE)},
                       "pos": {(RUN_DATE - timedelta(days=69), RUN_DATE)},
                       "online": {(RUN_DATE - timedelta(days=39), RUN_DATE)}}
    # `all` is the model on the sum of the channels' revenue.
    expected = forecast_series(ALL, daily_series(summed_series(channel_daily_rows()), RUN_DATE), RUN_DATE)
    got = sorted(by_channel[ALL], key=lambda r: r.date)
    assert [(r.date, r.forecast, r.lower_80, r.upper_80) for r in got] == \
        list(zip(expected["date"], expected["forecast"], expected["lower_80"], expected["upper_80"]))


def test_backtest_table_only_for_channels_with_56_days(spark, channel_daily):
    backtest = forecast_backtest(channel_daily, RUN_DATE)
    assert backtest.schema == spark.createDataFrame([], (
        "channel string, model string, mape_model decimal(9,2), mape_seasonal_naive decimal(9,2), "
        "mae_model decimal(18,2), mae_seasonal_naive decimal(18,2)")).schema
    rows = {row.channel: row for row in backtest.collect()}
    assert set(rows) == {"in_store", "pos", ALL}                  # online has 40 days: no backtest
    expected = backtest_series(ALL, daily_series(summed_series(channel_daily_rows()), RUN_DATE)).iloc[0]
    assert rows[ALL].mae_model == expected["mae_model"] and rows[ALL].mape_model == expected["mape_model"]


def test_two_runs_give_identical_rows(channel_daily):
    for table in (kpi_revenue_forecast, forecast_backtest):
        first = sorted(table(channel_daily, RUN_DATE).collect())
        second = sorted(table(channel_daily, RUN_DATE).collect())
        assert first and first == second


def test_channel_daily_without_revenue_is_named(spark):
    frame = spark.createDataFrame([], "date date, channel string, order_count int")
    with pytest.raises(ValueError, match="kpi_channel_daily lacks column.*revenue"):
        kpi_revenue_forecast(frame, RUN_DATE)


def test_a_constant_series_is_its_own_forecast_without_fitting(caplog):
    # ETS on a constant series fails to converge (a warning per fit); there is nothing to estimate.
    days = [RUN_DATE - timedelta(days=k) for k in range(30)]
    rows = pd.DataFrame({"date": days, "revenue": [D("100.00")] * 30})
    with caplog.at_level("INFO", logger="etl.gold.forecast"):
        forecast = forecast_series("online", daily_series(rows, RUN_DATE), RUN_DATE)
    assert set(forecast["forecast"]) == set(forecast["lower_80"]) == set(forecast["upper_80"]) == {D("100.00")}
    assert len(forecast) == HORIZON
    assert not [r for r in caplog.records if "statsmodels warning" in r.getMessage()]

