"""The dashboard (etl/dashboard) against a real MariaDB loaded by a real export: the observed slice run
(three generated days, ``etl run --date 2026-11-22``, tests/integration/conftest.py ``local_slice_run``).

Each query runs against the served tables; Streamlit's own app-testing API (``AppTest``) draws every page
without a browser and checks its elements and that none raises; a table without rows shows an empty state,
and MySQL down (a port nothing listens on: a real refused connection) shows one message, no stack trace.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from etl.config import PROJECT_ROOT
from etl.dashboard import queries, shaping
from etl.dashboard.connect import DashboardUnavailable, connect, credentials
from etl.dashboard.app import PAGES
from etl.secrets import SecretStore
from tests.integration.conftest import SLICE_RUN_DATE, free_ports

pytestmark = pytest.mark.integration
APP = str(PROJECT_ROOT / "etl" / "dashboard" / "app.py")


@pytest.fixture(scope="module")
def served(local_slice_run):
    """(config of the slice's profile, its environment) with ETL_* set for the app run in this process."""
    stack, cfg, env, _ = local_slice_run
    with pytest.MonkeyPatch.context() as mp:
        for key, value in {**stack.env, **env}.items():
            mp.setenv(key, value)
        mp.delenv("ETL_MASTER_KEY", raising=False)
        yield stack, cfg


@pytest.fixture(scope="module")
def conn(served):
    """As the dashboard signs in: the read-only consumer account ``etl services start`` created."""
    _, cfg = served
    creds = credentials(cfg, SecretStore(cfg.secrets_file, profile=cfg.profile))
    assert creds.account == "reader" and creds.user.startswith("etl_read_")
    connection = connect(cfg, creds)
    yield connection
    connection.close()


def fresh_app(page: str) -> AppTest:
    st.cache_data.clear()
    st.cache_resource.clear()
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params["page"] = page
    return at.run()


def test_every_query_runs_against_the_served_tables(conn):
    start, end = SLICE_RUN_DATE - timedelta(days=60), SLICE_RUN_DATE
    months = {"start_month": "2025-01", "end_month": "2026-12"}
    args = {"daily_sales": {"start": start, "end": end}, "alerts": {"start": start, "end": end},
            "monthly_trends": months, "cohort_retention": months, "order_mix": months,
            "customer_segments": {"month": f"{end:%Y-%m}"}, "sales_team": {**months, "store": None},
            "channel_daily": {"start": start, "end": end, "channel": None}, "runs": {"limit": 5},
            "dq_results": {"start": start, "end": end}, "rejected_files": {"limit": 5}}
    for name, query in queries.QUERIES.items():
        if name.endswith("_as_of"):
            frame = queries.run(conn, name[:-len("_as_of")], as_of=SLICE_RUN_DATE, **args.get(name, {}))
        else:
            frame = queries.run(conn, name, **args.get(name, {}))
        assert list(frame.columns), name
    daily = queries.run(conn, "daily_sales", start=start, end=end)
    assert daily["sales_date"].max() == SLICE_RUN_DATE and isinstance(daily["revenue"].iloc[0], Decimal)
    one_store = queries.run(conn, "sales_team", **months, store=int(queries.run(conn, "stores")["store_id"].iloc[0]))
    assert one_store["store_id"].nunique() == 1
    # a value that looks like SQL is a value: no rows, no error
    assert queries.run(conn, "channel_daily", start=start, end=end, channel="x' OR '1'='1").empty


def test_the_overview_headline_equals_gold(conn, served):
    """The figures the page shows are the Excel Summary's, computed from the same served rows."""
    stack, cfg = served
    at = fresh_app("overview")
    assert not at.exception, at.exception
    shown = {m.label: m.value for m in at.metric}
    daily = queries.run(conn, "daily_sales", start=SLICE_RUN_DATE, end=SLICE_RUN_DATE)
    assert shown["Revenue on the run date"] == shaping.money(daily["revenue"].iloc[0])
    assert shown["Orders on the run date"] == shaping.count(daily["order_count"].iloc[0])
    month = queries.run(conn, "monthly_trends", start_month="2026-11", end_month="2026-11")
    assert shown["Revenue, month to date"] == shaping.money(month["revenue"].iloc[0])
    assert shown["Customers with orders, month to date"] == shaping.count(month["unique_customers"].iloc[0])


@pytest.mark.parametrize("page", list(PAGES))
def test_every_page_draws_without_an_error(served, page):
    at = fresh_app(page)
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    assert at.title[0].value == PAGES[page]
    assert len(at.subheader) >= 1
    if page != "health":
        assert len(at.get("vega_lite_chart")) + len(at.dataframe) >= 1, page
    else:
        assert len(at.dataframe) >= 3                                   # table loads, runs, quarantine per rule
        assert not [w.value for w in at.warning if "may not read" in w.value]       # the consumer reads it all
        assert [m.value for m in [*at.warning, *at.success] if m.value.startswith(("Stale: ", "Fresh: "))]
        assert [s.value for s in at.subheader][-2:] == ["Quarantine per rule", "Rejected files"]
        assert any("No rows: rejected_files" in i.value for i in at.info)   # the slice delivers no bad file
    assert not [w.value for w in at.warning if "may not read" in w.value], page


def _lake_rows(spark, cfg, served: str) -> list[tuple]:
    from etl import catalog
    from etl.export.ops_served import SHAPERS
    from etl.lake import table_uri

    frame = SHAPERS[served](spark.read.format("delta").load(table_uri(cfg, "ops", catalog.SERVED_OPS[served])))
    return frame.collect(), frame.columns


def _text(value):
    from datetime import datetime

    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    return None if value is None else str(value)


@pytest.mark.parametrize("served_table", ["dq_results", "rejected_files"])
def test_the_quality_results_and_rejected_files_in_mysql_equal_the_lake(served, conn, s3_spark, served_table):
    """V007: what the slice run's export loaded is the lake's ops/dq_results and the rejected rows of
    ops/file_manifest, row for row (read back by the consumer account)."""
    _, cfg = served
    rows, columns = _lake_rows(s3_spark, cfg, served_table)
    with conn.cursor() as cursor:
        cursor.execute(f"SELECT {', '.join(columns)} FROM {served_table}")
        mysql = sorted(tuple(_text(v) for v in row) for row in cursor.fetchall())
    lake = sorted(tuple(_text(row[c]) for c in columns) for row in rows)
    assert mysql == lake
    if served_table == "dq_results":
        assert "sales" in {row[2] for row in lake}                         # silver checked the slice's sales
        assert {row[0] for row in lake} and all(row[1] == SLICE_RUN_DATE.isoformat() for row in lake)


def test_the_health_page_shows_quarantine_per_rule_and_rejected_files_with_reasons(served, conn):
    """The page's two sections on the served rows: every rule of the slice's run date in the table, and a
    rejected file with its reason in the list. The slice run rejects no file, so one row is put into
    rejected_files by the loader account for this test (and taken out again): the page is what is tested
    here; the export of the rejected rows is the test above."""
    import pymysql

    stack, cfg = served
    per_rule = shaping.quarantine_per_rule(queries.run(conn, "dq_results", start=SLICE_RUN_DATE, end=SLICE_RUN_DATE))
    assert len(per_rule) > 0
    loader = pymysql.connect(host=cfg.mysql.host, port=cfg.mysql.port, user=stack.secret(cfg.mysql.user_secret),
                             password=stack.secret(cfg.mysql.password_secret), database=cfg.mysql.database,
                             autocommit=True)
    reason = "header: the column amount is missing"
    try:
        with loader.cursor() as cursor:
            cursor.execute("INSERT INTO rejected_files (feed, path, checksum, size, run_id, reason, rejected_at) "
                           "VALUES ('sales', 'landing/slice/sales/broken.csv', 'sha256:00', 12, 'r-test', %s, "
                           "'2026-11-22 02:00:00.000')", (reason,))
        at = fresh_app("health")
    finally:
        with loader.cursor() as cursor:
            cursor.execute("DELETE FROM rejected_files WHERE run_id = 'r-test'")
        loader.close()
    assert not at.exception and not at.error, [e.value for e in at.error]
    tables = {tuple(f.value.columns): f.value for f in at.dataframe}
    rules = next(v for k, v in tables.items() if "Rule" in k or "rule" in k)
    assert len(rules) == len(per_rule)
    rejected = next(v for k, v in tables.items() if any(str(c).lower() == "reason" for c in k))
    assert rejected.iloc[0][[c for c in rejected.columns if str(c).lower() == "reason"][0]] == reason
    assert len(at.get("vega_lite_chart")) >= 2                   # stage seconds, quarantine per rule


def test_snapshots_as_of_an_earlier_run_date_come_from_their_history(served, conn):
    """The as-of picker lists the run dates the history keeps; picking one reads ``<table>_history``."""
    at = fresh_app("customers")
    picker = at.sidebar.selectbox(key="as_of")
    assert picker.options == ["latest", SLICE_RUN_DATE.isoformat()]
    at = picker.select(SLICE_RUN_DATE.isoformat()).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    live = queries.run(conn, "top_customers")
    history = queries.run(conn, "top_customers", as_of=SLICE_RUN_DATE)
    assert len(history) == len(live) > 0
    shown = [f for f in at.dataframe if "Spend rank" in f.value.columns]
    assert shown and len(shown[0].value) == len(history)


def test_a_table_without_rows_shows_an_empty_state(served):
    """Alerts are a real empty table on the slice's three days (no 7-day history to drop from)."""
    at = fresh_app("overview")
    assert not at.exception
    assert any("No rows: alerts" in i.value for i in at.info), [i.value for i in at.info]


def test_mysql_down_shows_one_message_and_no_stack_trace(served, monkeypatch):
    monkeypatch.setenv("ETL__MYSQL__PORT", str(free_ports(1)[0]))      # nothing listens there: refused
    for page in PAGES:
        at = fresh_app(page)
        assert not at.exception, at.exception
        assert len(at.error) == 1
        message = at.error[0].value
        assert message.startswith("MySQL is not available: cannot connect to MySQL at mysql://127.0.0.1:")
        assert "Traceback" not in message
    with pytest.raises(DashboardUnavailable):
        _, cfg = served
        from etl.config import load_config
        down = load_config(cfg.profile)
        connect(down, credentials(down, SecretStore(down.secrets_file, profile=down.profile)))
