"""The revenue forecast per channel and its backtest against the seasonal-naive forecast."""

from __future__ import annotations

from datetime import date

from pyspark.sql import DataFrame

from etl.gold.common import empty_frame

# Skeleton: the tables are defined in etl/gold/marts.py; their functions are filled in next.


def kpi_revenue_forecast(channel_daily: DataFrame, run_date: date) -> DataFrame:
    return empty_frame(channel_daily, "channel string, date date, forecast decimal(18,2), lower_80 decimal(18,2), "
                       "upper_80 decimal(18,2), model string, trained_from date, trained_to date")


def forecast_backtest(channel_daily: DataFrame, run_date: date) -> DataFrame:
    return empty_frame(channel_daily, "channel string, model string, mape_model decimal(9,2), "
                       "mape_seasonal_naive decimal(9,2), mae_model decimal(18,2), mae_seasonal_naive decimal(18,2)")
