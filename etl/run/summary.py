"""What a run did, as the lines ``etl run`` prints at its end (also when a stage stopped it).

Each stage fills its part as it goes (``Run.summary``); the run record (etl/run/records.py)
is computed from the same object.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from etl.bronze.ingest import FeedIngestResult
from etl.bronze.keys import shown
from etl.gold.build import GoldResult
from etl.silver.build import SilverResult


@dataclass
class RunSummary:
    run_id: str
    run_date: date
    profile: str
    ingest: list[FeedIngestResult] = field(default_factory=list)
    silver: SilverResult | None = None
    gold: GoldResult | None = None
    mysql: dict[str, int] | None = None
    mysql_target: str | None = None
    excel_local: str | None = None
    excel_sheets: dict[str, int] | None = None
    excel_uploaded: str | None = None
    # For the ops/runs record (etl/run/records.py): set by Run.execute.
    trigger: str = "cli"
    started_at: datetime | None = None
    ended_at: datetime | None = None
    status: str | None = None
    error: str | None = None
    stages: list[str] = field(default_factory=list)
    stage_seconds: dict[str, float] = field(default_factory=dict)
    table_versions: dict[str, int] = field(default_factory=dict)

    def lines(self) -> list[str]:
        out = [f"run {self.run_id} for {self.run_date} (profile {self.profile})"]
        for feed in self.ingest:
            recovered = f", recovered {len(feed.recovered)}" if feed.recovered else ""
            out.append(f"  bronze {feed.feed:<11} files ingested {len(feed.ingested)}, rejected {len(feed.rejected)}, "
                       f"duplicate {len(feed.duplicates)}{recovered}, rows {feed.rows}")
            out.extend(f"    rejected {shown(key)}: {reason}" for key, reason in feed.rejected.items())
        if self.silver:
            out.extend(self.silver.lines())
        if self.gold:
            out.extend(f"  gold {refresh.line()}" for refresh in self.gold.facts)
            for table, count in self.gold.counts.items():
                out.append(f"  gold {table:<24} {count} row(s) at {self.gold.locations[table]}")
            out.extend(f"  ALERT {alert}" for alert in self.gold.alerts)
            if not self.gold.alerts:
                out.append(f"  alerts: none for {self.run_date} (kpi_daily_sales.is_anomaly is false)")
        if self.mysql is not None:
            out.extend(f"  mysql {table}: {count} row(s) at {self.mysql_target}" for table, count in self.mysql.items())
        if self.excel_local:
            out.append(f"  excel report: {self.excel_local}")
            if self.excel_sheets:
                out.append("    sheets: " + ", ".join(f"{name} {rows}" for name, rows in self.excel_sheets.items()))
        if self.excel_uploaded:
            out.append(f"  excel uploaded: {self.excel_uploaded}")
        return out
