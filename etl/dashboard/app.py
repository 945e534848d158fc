"""The dashboard's Streamlit script: ``etl dashboard --profile P`` runs it (``streamlit run``).

Five pages over the served gold tables (etl/dashboard/queries.py), chosen in the sidebar or by the
address (``?page=customers``). Every query result is cached for ``CACHE_SECONDS``; MySQL down shows
one message (no stack trace), a table without rows shows an empty state, a table this account may
not read (or not exported yet) says so and the rest of the page goes on.
"""

from __future__ import annotations

import os
from datetime import date, datetime, timedelta, timezone

import altair as alt
import pandas as pd
import streamlit as st

from etl.dashboard import queries, shaping
from etl.dashboard.connect import DashboardUnavailable, connect, credentials, describe
from etl.export.excel import header_text

CACHE_SECONDS = 60
DEFAULT_DAYS = 60
PAGES = {"overview": "Overview", "customers": "Customers", "sales-team": "Sales team",
         "orders": "Orders and menu", "health": "Data health"}
LATEST = "latest"


# -- data access (cached) ----------------------------------------------------------------------------

@st.cache_resource(show_spinner=False)
def _settings(profile: str):
    """The profile and its MySQL account, resolved once per process (a secret error is shown, not raised)."""
    from etl.config import load_config
    from etl.secrets import open_secrets

    cfg = load_config(profile)
    return cfg, credentials(cfg, open_secrets(cfg))


@st.cache_data(ttl=CACHE_SECONDS, show_spinner=False)
def fetch(profile: str, name: str, as_of=None, **params) -> pd.DataFrame:
    cfg, creds = _settings(profile)
    conn = connect(cfg, creds)
    try:
        return queries.run(conn, name, as_of=as_of, **params)
    finally:
        conn.close()


def load(name: str, **params) -> pd.DataFrame | None:
    """Query ``name``; None (with the reason shown) when this one table cannot be read."""
    try:
        return fetch(st.session_state["profile"], name, **params)
    except queries.QueryUnavailable as exc:
        st.warning(str(exc))
        return None


def empty(frame: pd.DataFrame | None, what: str) -> bool:
    """True, with a message, when there is nothing to draw."""
    if frame is None:
        return True
    if frame.empty:
        st.info(f"No rows: {what} has nothing for this selection yet.")
        return True
    return False


def table(frame: pd.DataFrame, what: str, **kwargs) -> None:
    """A table in the report's formats and header words; a snapshot's one run date as a caption."""
    if empty(frame, what):
        return
    if "as_of_date" in frame.columns and frame["as_of_date"].nunique() == 1:
        st.caption(f"Run date {frame['as_of_date'].iloc[0]}")
        frame = frame.drop(columns="as_of_date")
    shown = shaping.formatted(frame)
    shown.columns = [header_text(c) for c in shown.columns]
    st.dataframe(shown, hide_index=True, use_container_width=True, **kwargs)


def day_axis(field: str, title: str = "date") -> alt.X:
    return alt.X(f"{field}:T", title=title, axis=alt.Axis(format="%Y-%m-%d", tickCount="day", labelAngle=-45))


# -- pages -------------------------------------------------------------------------------------------

def page_overview(f: dict) -> None:
    start, end = f["start"], f["end"]
    daily = load("daily_sales", start=start, end=end)
    monthly = load("monthly_trends", start_month=f"{end:%Y-%m}", end_month=f"{end:%Y-%m}")
    regions = load("regional_revenue", as_of=f["as_of"])
    if daily is not None and monthly is not None and regions is not None:
        st.subheader(f"Headline figures for {end:%Y-%m-%d}")
        figures = shaping.headline(daily, monthly, regions, end)
        cols = st.columns(4)
        for i, (label, value) in enumerate(shaping.headline_text(figures)):
            cols[i % 4].metric(label, value)
    st.subheader("Daily revenue, the 7-day average and the 14-day forecast")
    if not empty(daily, "kpi_daily_sales"):
        lines = shaping.revenue_lines(daily)
        chart = alt.Chart(lines).mark_line(point=True).encode(x=day_axis("sales_date"),
                                                    y=alt.Y("value:Q", title="revenue"), color="series:N")
        marks = shaping.anomalies(daily)
        layers = [chart]
        if len(marks):
            layers.append(alt.Chart(marks).mark_point(color="red", size=90, filled=True)
                          .encode(x=day_axis("sales_date"), y="value:Q", tooltip=["sales_date:T", "value:Q"]))
        forecast = load("forecast", as_of=f["as_of"])
        band = shaping.forecast_band(forecast) if forecast is not None else shaping.forecast_band(pd.DataFrame())
        if len(band):
            layers.append(alt.Chart(band).mark_area(opacity=0.25).encode(x=day_axis("forecast_date"), y="lower_80:Q",
                                                                          y2="upper_80:Q"))
            layers.append(alt.Chart(band).mark_line(strokeDash=[4, 3]).encode(x=day_axis("forecast_date"), y="forecast:Q"))
        else:
            st.caption("No forecast for this run date (too little history, or not exported).")
        st.altair_chart(alt.layer(*layers), use_container_width=True)
        st.caption(f"{len(marks)} sales-drop anomaly day(s) marked in red.")
    alerts = load("alerts", start=start, end=end)
    st.subheader("Alerts")
    table(alerts, "alerts")
    st.subheader("Revenue by region, month to date")
    table(regions, "kpi_regional_revenue")


def page_customers(f: dict) -> None:
    months = load("customer_months")
    st.subheader("Customer segments (customers data mart)")
    if not empty(months, "customers_data_mart"):
        month = st.selectbox("Month", list(months["sales_month"]), key="segment_month")
        segments = load("customer_segments", month=month)
        if not empty(segments, "customers_data_mart"):
            st.altair_chart(alt.Chart(shaping.numeric(segments, "total_sales")).mark_bar()
                            .encode(x="customers:Q", y=alt.Y("customer_segment:N", sort="-x")),
                            use_container_width=True)
            table(segments, "customers_data_mart")
    st.subheader("RFM segments")
    rfm = load("rfm", as_of=f["as_of"])
    if not empty(rfm, "customer_rfm"):
        segments = shaping.rfm_segments(rfm)
        st.altair_chart(alt.Chart(segments).mark_bar().encode(x="customers:Q", y=alt.Y("rfm_segment:N", sort="-x")),
                        use_container_width=True)
        table(segments, "customer_rfm")
    st.subheader("Top customers, last 30 days")
    table(load("top_customers", as_of=f["as_of"]), "kpi_top_customers_30d")
    st.subheader("Cohort retention (% of each cohort active, by months since the first order)")
    cohorts = load("cohort_retention", start_month=f"{f['start'] - timedelta(days=366):%Y-%m}",
                   end_month=f"{f['end']:%Y-%m}")
    if not empty(cohorts, "kpi_cohort_retention"):
        st.altair_chart(alt.Chart(shaping.cohort_matrix(cohorts)).mark_rect().encode(
            x="month_offset:O", y="cohort_month:O", color=alt.Color("retention_pct:Q", scale=alt.Scale(scheme="blues")),
            tooltip=["cohort_month", "month_offset", "retention_pct"]), use_container_width=True)
    st.subheader("Repeat customers, this month")
    table(load("repeat_customers", as_of=f["as_of"]), "kpi_repeat_customers")


def page_sales_team(f: dict) -> None:
    stores = load("stores")
    if empty(stores, "sales_team_data_mart"):
        return
    store = st.sidebar.selectbox("Store", ["all"] + list(stores["store_id"]), key="store")
    start_month, end_month = shaping.month_range(f["start"] - timedelta(days=366), f["end"])
    team = load("sales_team", start_month=start_month, end_month=end_month, store=None if store == "all" else store)
    if empty(team, "sales_team_data_mart"):
        return
    months = sorted(team["sales_month"].unique(), reverse=True)
    month = st.selectbox("Month", months, key="team_month")
    st.subheader(f"Leaderboard, {month}")
    table(shaping.leaderboard(team, month), "sales_team_data_mart")
    st.subheader("Year-to-date sales")
    st.altair_chart(alt.Chart(shaping.ytd_lines(team)).mark_line(point=True).encode(
        x="sales_month:O", y=alt.Y("year_to_date_sales:Q", title="year-to-date sales"), color="person:N"),
        use_container_width=True)


def page_orders(f: dict) -> None:
    channels = load("channels")
    options = ["all"] + (list(channels["channel"]) if channels is not None else [])
    channel = st.sidebar.selectbox("Channel", options, key="channel")
    daily = load("channel_daily", start=f["start"], end=f["end"], channel=None if channel == "all" else channel)
    st.subheader("Channel mix and average order value")
    if not empty(daily, "kpi_channel_daily"):
        mix = shaping.channel_mix(daily)
        st.altair_chart(alt.Chart(mix).mark_area().encode(x=day_axis("sales_date"), y=alt.Y("revenue:Q", stack="normalize",
                                                                                   title="share of revenue"),
                                                          color="channel:N"), use_container_width=True)
        st.altair_chart(alt.Chart(mix).mark_line(point=True).encode(x=day_axis("sales_date"), y=alt.Y("avg_order_value:Q",
                        title="average order value"), color="channel:N"),
                        use_container_width=True)
    start_month, end_month = shaping.month_range(f["start"], f["end"])
    order_mix = load("order_mix", start_month=start_month, end_month=end_month)
    left, right = st.columns(2)
    for column, dimension in ((left, "order_type"), (right, "payment_type")):
        with column:
            st.subheader(dimension.replace("_", " ").capitalize() + " mix")
            if not empty(order_mix, "kpi_order_mix"):
                table(shaping.mix_of(order_mix, dimension), f"kpi_order_mix ({dimension})")
    st.subheader("Peak hours (average orders per day, last 28 days)")
    peak = load("peak_hours", as_of=f["as_of"])
    if not empty(peak, "kpi_peak_hours"):
        st.altair_chart(alt.Chart(shaping.peak_matrix(peak)).mark_rect().encode(
            x="hour:O", y=alt.Y("day:N", sort=list(shaping.DAY_NAMES.values())),
            color=alt.Color("avg_orders_per_day:Q", scale=alt.Scale(scheme="oranges"))), use_container_width=True)
    st.subheader("Menu performance, last 30 days")
    menu = load("menu", as_of=f["as_of"])
    if not empty(menu, "kpi_menu_performance_30d"):
        table(menu, "kpi_menu_performance_30d")
        st.markdown("**Underperforming items**")
        table(shaping.underperforming(menu), "kpi_menu_performance_30d (underperforming)")
    st.subheader("Basket pairs, last 90 days")
    table(load("basket_pairs", as_of=f["as_of"]), "kpi_basket_pairs_90d")


def page_health(f: dict) -> None:
    st.subheader("Freshness")
    loads = load("table_loads")
    if not empty(loads, "etl_table_loads"):
        state = shaping.freshness(loads, datetime.now(timezone.utc).date())
        if state["fresh"]:
            st.success(f"Fresh: the newest run date loaded is {state['last_run_date']} "
                       f"(last load {state['last_load']:%Y-%m-%d %H:%M:%S} UTC).")
        else:
            st.warning(f"Stale: the newest run date loaded is {state['last_run_date']}, "
                       f"{state['days_behind']} day(s) behind the daily schedule "
                       f"(last load {state['last_load']:%Y-%m-%d %H:%M:%S} UTC).")
        table(loads, "etl_table_loads")
    st.subheader("Last runs")
    runs = load("runs", limit=20)
    if not empty(runs, "etl_run_records"):
        table(shaping.run_summary(runs).fillna({"error": ""}), "etl_run_records")
        durations = shaping.stage_durations(runs)
        if len(durations):
            st.altair_chart(alt.Chart(durations).mark_bar().encode(x="seconds:Q", y="run_id:N", color="stage:N"),
                            use_container_width=True)
        st.markdown("**Rows per layer**")
        table(shaping.rows_per_layer(runs), "etl_run_records (table_rows)")
    st.subheader("Quarantine per rule")
    dq = load("dq_results", start=f["start"], end=f["end"])
    if not empty(dq, "dq_results"):
        per_rule = shaping.quarantine_per_rule(dq)
        if not empty(per_rule, "dq_results (rules)"):
            chart = per_rule.assign(check=per_rule["feed"] + ": " + per_rule["rule"],
                                    failed_rows=per_rule["failed_rows"].astype(int),
                                    total_rows=per_rule["total_rows"].astype(int),
                                    run_date=pd.to_datetime(per_rule["run_date"]))
            st.altair_chart(alt.Chart(chart).mark_bar().encode(
                x=day_axis("run_date", "run date"), y=alt.Y("failed_rows:Q", title="rows failed"),
                color=alt.Color("check:N", title="feed: rule"), tooltip=["run_date:T", "feed", "rule", "severity",
                                                                        "failed_rows", "total_rows"]),
                use_container_width=True)
            table(per_rule, "dq_results")
    st.subheader("Rejected files")
    table(load("rejected_files", limit=100), "rejected_files")


# -- the frame ---------------------------------------------------------------------------------------

def filters() -> dict:
    bounds = load("sales_dates")
    last = shaping.as_date(bounds["last_date"].iloc[0]) if bounds is not None and len(bounds) else None
    first = shaping.as_date(bounds["first_date"].iloc[0]) if bounds is not None and len(bounds) else None
    last = last or date.today()
    first = first or last
    default_start = max(first, last - timedelta(days=DEFAULT_DAYS - 1))
    picked = st.sidebar.date_input("Date range", value=(default_start, last), min_value=first, max_value=last,
                                   key="dates")
    start, end = (picked if isinstance(picked, (tuple, list)) and len(picked) == 2 else (default_start, last))
    as_of = None
    try:
        history = fetch(st.session_state["profile"], "history_dates")
        choices = [LATEST] + [d.isoformat() for d in history["as_of_date"]]
    except queries.QueryUnavailable:
        choices = [LATEST]
    picked_as_of = st.sidebar.selectbox("Snapshots as of run date", choices, key="as_of",
                                        help="Snapshot tables (top customers, RFM, menu, ...) as an earlier run "
                                             "left them, from their history")
    if picked_as_of != LATEST:
        as_of = date.fromisoformat(picked_as_of)
    return {"start": start, "end": end, "as_of": as_of}


def main() -> None:
    st.set_page_config(page_title="Retail dashboard", layout="wide")
    st.session_state.setdefault("profile", os.environ.get("ETL_PROFILE", "dev"))
    keys = list(PAGES)
    wanted = st.query_params.get("page", "overview")
    page = st.sidebar.radio("Page", keys, index=keys.index(wanted) if wanted in keys else 0,
                            format_func=PAGES.get, key="page")
    st.query_params["page"] = page
    st.title(PAGES[page])
    try:
        cfg, creds = _settings(st.session_state["profile"])
        st.sidebar.caption(f"{describe(cfg)} as the {creds.account} account")
        f = filters()
        {"overview": page_overview, "customers": page_customers, "sales-team": page_sales_team,
         "orders": page_orders, "health": page_health}[page](f)
    except DashboardUnavailable as exc:
        st.error(f"MySQL is not available: {exc}. Start it (etl services start) or check the profile; "
                 f"this page reloads its data when MySQL answers again.")
    except Exception as exc:         # noqa: BLE001 - a reader sees one line, never a stack trace
        from etl.errors import ConfigError, SecretError
        if isinstance(exc, (ConfigError, SecretError)):
            st.error(f"Configuration: {exc}")
        else:
            st.error(f"This page could not be drawn: {type(exc).__name__}. The log has the details.")
            import logging
            logging.getLogger(__name__).exception("dashboard page %s failed", page)


if __name__ == "__main__":         # streamlit run (and AppTest) run the script as __main__; an import draws nothing
    main()
