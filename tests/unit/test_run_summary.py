"""The run summary ends with every gold table, its row count and location, and the alerts (issue 5)."""

from __future__ import annotations

from datetime import date

from etl.gold.build import FactsRefresh, GoldResult
from etl.run.summary import RunSummary


def summary(alerts: list[str]) -> list[str]:
    gold = GoldResult(counts={"customers_data_mart": 650, "alerts": len(alerts)},
                      locations={"customers_data_mart": "s3a://lake/gold/customers_data_mart",
                                 "alerts": "s3a://lake/gold/alerts"},
                      alerts=alerts,
                      facts=[FactsRefresh("daily", 7, ["2026-11"], "changed in silver")])
    return RunSummary("r1", date(2026, 11, 22), "dev", gold=gold).lines()


def test_gold_tables_are_listed_with_row_counts_and_locations():
    lines = summary([])
    assert "  gold customers_data_mart      650 row(s) at s3a://lake/gold/customers_data_mart" in lines
    assert "  gold facts daily: 2026-11 (changed in silver; silver transactions v7)" in lines


def test_alerts_are_reported_or_their_absence_said():
    assert "  alerts: none for 2026-11-22 (kpi_daily_sales.is_anomaly is false)" in summary([])
    lines = summary(["2026-11-22: revenue_7d 10.00 against 90.00 expected (...)"])
    assert "  ALERT 2026-11-22: revenue_7d 10.00 against 90.00 expected (...)" in lines
    assert not any(line.startswith("  alerts: none") for line in lines)
