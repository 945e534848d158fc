"""What the order-analytics benchmark (benchmarks/run.py ``--order-analytics``) reads from a run: the seconds of
each gold table from the run's log lines, and the rows of each order-analytics sheet of the Excel report.
The write lines come from delta_io's own logger (so a change of its wording breaks this test, not the
benchmark's figures); the report is a small workbook written here with the report's sheet names."""

from __future__ import annotations

import logging
from datetime import date
from types import SimpleNamespace

from openpyxl import Workbook

from benchmarks.run import OA_TABLES, add_task_cpu, excel_counts, gold_table_times, order_analytics_lines
from etl import delta_io
from etl.export.report import ORDER_ANALYTICS_SHEETS
from etl.storage import LocalStore


def logged_write_lines(caplog, commits: list[delta_io.Commit]) -> list[dict]:
    """The INFO lines delta_io's ``logged`` writes for these commits, as the run's JSON log carries them."""
    def overwrite(commit: delta_io.Commit) -> delta_io.Commit:
        return commit

    with caplog.at_level(logging.INFO, logger=delta_io.log.name):
        for commit in commits:
            delta_io.logged(overwrite)(commit)
    return [{"message": r.getMessage()} for r in caplog.records if r.name == delta_io.log.name]


def test_seconds_per_table_are_its_compute_plus_its_writes(caplog):
    writes = logged_write_lines(caplog, [
        delta_io.Commit("s3a://lake/x/gold/kpi_order_mix", 3, "WRITE", {"numOutputRows": 12}),
        delta_io.Commit("s3a://lake/x/gold/facts_channel_daily", 5, "WRITE", {"numOutputRows": 40}),
        delta_io.Commit("s3a://lake/x/gold/facts_pos_mix_month", None),          # unchanged: no commit
        delta_io.Commit("s3a://lake/x/silver/transactions", 9, "MERGE", {"numTargetRowsInserted": 7}),
    ])
    messages = [{"message": "gold inputs: computed in 1.23 s"},
                {"message": "gold kpi_order_mix: computed in 2.50 s"}, *writes]

    times = gold_table_times(messages)

    assert times["inputs"] == {"compute_s": 1.23, "seconds": 1.23}
    assert times["kpi_order_mix"]["compute_s"] == 2.5 and times["kpi_order_mix"]["rows_written"] == 12
    assert times["kpi_order_mix"]["seconds"] == times["kpi_order_mix"]["compute_s"] + times["kpi_order_mix"]["write_s"]
    assert times["facts_channel_daily"]["rows_written"] == 40 and "compute_s" not in times["facts_channel_daily"]
    assert times["facts_pos_mix_month"]["rows_written"] == 0       # counted, with its seconds
    assert "transactions" not in times                              # silver is not gold


def test_task_cpu_of_a_table_is_its_own_jobs_and_deltas_under_them():
    tables = {"kpi_order_mix": {}, "kpi_order": {}}
    add_task_cpu(tables, {"gold kpi_order_mix": 2.0, "write kpi_order_mix": 0.5,
                          "Delta: write kpi_order_mix: Filtering files for query": 0.25,
                          "gold kpi_order_mix_other": 9.0, "silver sales": 9.0, "gold kpi_order": 1.0})
    assert tables == {"kpi_order_mix": {"task_cpu_s": 2.75}, "kpi_order": {"task_cpu_s": 1.0}}


def report_with(tmp_path, empty: tuple[str, ...] = ()) -> SimpleNamespace:
    """An exports root holding a report whose order-analytics sheets have a title, a header and a row each
    (the report's "No rows" line instead for the tables in ``empty``)."""
    workbook = Workbook()
    for sheet, table in ORDER_ANALYTICS_SHEETS.items():
        ws = workbook.create_sheet(sheet)
        blocks = [table, "forecast_backtest"] if table == "kpi_revenue_forecast" else [table]
        for block in blocks:
            ws.append(["Backtest: the model" if block == "forecast_backtest" else f"{sheet} title"])
            ws.append([f"No rows: gold {block} is empty for 2026-11-02."] if block in empty else ["a", "b"])
            if block not in empty:
                ws.append([1, 2])
            ws.append([])
    folder = tmp_path / "exports" / "reports" / "2026-11-02"
    folder.mkdir(parents=True)
    workbook.save(folder / "Daily_Report_20261102.xlsx")
    return SimpleNamespace(exports=LocalStore(str(tmp_path / "exports")), roots={"exports": str(tmp_path / "exports")})


def test_excel_counts_every_table_and_tells_an_empty_one(tmp_path):
    counts = excel_counts(report_with(tmp_path, empty=("kpi_basket_pairs_90d", "forecast_backtest")),
                          date(2026, 11, 2), tmp_path / "download")

    assert set(counts["tables"]) == set(OA_TABLES)
    assert counts["tables"]["kpi_order_mix"] == {"sheet": "Order_Mix", "rows": 3, "says_empty": False}
    assert counts["tables"]["kpi_basket_pairs_90d"]["says_empty"]
    assert counts["tables"]["kpi_revenue_forecast"] == {"sheet": "Forecast", "rows": 3, "says_empty": False}
    assert counts["tables"]["forecast_backtest"] == {"sheet": "Forecast", "rows": 2, "says_empty": True}


def test_excel_counts_says_when_the_report_is_missing(tmp_path):
    (tmp_path / "exports").mkdir()
    target = SimpleNamespace(exports=LocalStore(str(tmp_path / "exports")), roots={"exports": "the root"})
    counts = excel_counts(target, date(2026, 11, 2), tmp_path)
    assert counts["error"] == "Daily_Report_20261102.xlsx not found in the root"


def test_the_report_section_shows_each_table_and_says_which_has_no_rows():
    run = {"exit_code": 0, "wall_s": 100.0, "cpu_s": 150.0, "stages_s": {"gold": 40.0},
           "gold_tables": {"inputs": {"compute_s": 3.0, "seconds": 3.0},
                           **{t: {"seconds": 2.0} for t in OA_TABLES},
                           "facts_channel_daily": {"seconds": 1.0}, "facts_pos_mix_month": {"seconds": 1.0}}}
    served = {"gold": {t: 5 for t in OA_TABLES}, "mysql": {t: 5 for t in OA_TABLES},
              "excel": {"tables": {t: {"sheet": "S", "rows": 3, "says_empty": False} for t in OA_TABLES}}}
    result = {"label": "1M", "sales": 1000, "days": 365, "orders_per_day": 3, "events_orders_per_day": 3,
              "order_share": 0.1, "customers": 50, "profile": "dev", "measured_at": "now",
              "load_average_start": [1.0], "load_average_end": [2.0], "pipeline": {"full": run, "incremental": run},
              "served": served, "ok": False, "tables_without_rows": ["kpi_order_mix in MySQL"]}

    text = "\n".join(order_analytics_lines([result]))

    assert "| `kpi_order_mix` | 2.0 s | 2.0 s |" in text            # no task CPU in this result: wall only
    assert "**20.0 s**" in text              # nine tables at 2 s and two facts at 1 s
    assert "| `customer_rfm` | 5 / 5 / 3 |" in text
    assert "missing rows in kpi_order_mix in MySQL" in text
