"""The dashboard in a real browser: ``etl dashboard`` started as its own process over loopback on
``make demo``'s data (a real export), opened page by page by Debian's Chromium (apt packages ``chromium``
and ``chromium-driver``) driven headless by Selenium. Each page must draw its charts and show no error;
the Overview's headline figures must equal gold (the Delta tables, read by Spark); the order analytics
(order mix, peak hours, basket pairs) must have rows.

The demo's data: ``etl generate --start 2026-11-20 --days 3`` (all seven feeds, POS order events
included) and ``etl run --date 2026-11-22``, as ``make demo`` runs them, in a lake prefix and a MySQL
database of their own (``dashboard_demo``, with its own loader and consumer accounts made by ``etl
services start``), so the slice run the other modules compare against stays as it is. The run goes
through ``etl.cli.main`` on the test session (``etl_in_process``: no JVM start).

With ``DASHBOARD_SCREENSHOTS=docs/images`` the screenshots of docs/dashboard.md are written there
(``dashboard-<page>.png``); otherwise into the test's temporary folder.
"""

from __future__ import annotations

import os
import subprocess
import time
import urllib.request
from datetime import date
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from devtools import services
from devtools.generate import ALL_FEEDS, GenerateOptions, generate
from etl.config import PROJECT_ROOT
from etl.dashboard import shaping
from etl.dashboard.app import PAGES
from tests.integration.conftest import BIN, etl_in_process, free_ports, isolated_env, landing_store

pytestmark = pytest.mark.integration
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
# Pages whose content is charts (every page, on the demo's data).
CHART_PAGES = {"overview", "customers", "sales-team", "orders", "health"}
# make demo: `etl generate --start 2026-11-20 --days 3` (the command's defaults: all seven feeds, seed 7),
# then `etl run --date 2026-11-22` (DEMO_DATE in the Makefile).
DEMO_OPTS = GenerateOptions(start=date(2026, 11, 20), days=3, feeds=ALL_FEEDS)
DEMO_RUN_DATE = date(2026, 11, 22)
DEMO_MYSQL = {"ETL__MYSQL__DATABASE": "dashboard_demo",
              "ETL__MYSQL__USER_SECRET": "mysql_demo_user", "ETL__MYSQL__PASSWORD_SECRET": "mysql_demo_password",
              "ETL__MYSQL__READER_USER_SECRET": "mysql_demo_reader_user",
              "ETL__MYSQL__READER_PASSWORD_SECRET": "mysql_demo_reader_password"}


@pytest.fixture(scope="module")
def demo_run(stack, s3_spark, tmp_path_factory):
    """(stack, config, environment) of make demo's data, run and exported to its own MySQL database."""
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("ETL_MASTER_KEY", raising=False)
        mp.setenv("ETL_MASTER_KEY_FILE", stack.env["ETL_MASTER_KEY_FILE"])
        services.start(stack.config(**DEMO_MYSQL), say=lambda line: None)     # the database and its two accounts
    env = {**isolated_env("demo"), **DEMO_MYSQL}
    generate(DEMO_OPTS, tmp_path_factory.mktemp("demo-gen"), landing_store(stack, "demo"))
    done = etl_in_process(stack, s3_spark, env, ["run", "--date", DEMO_RUN_DATE.isoformat()])
    assert done.returncode == 0, done.stderr[-3000:]
    return stack, stack.config(**env), env


@pytest.fixture(scope="module")
def dashboard(demo_run, tmp_path_factory):
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        pytest.fail("Debian's chromium and chromium-driver are not installed (make setup installs them)")
    stack, cfg, env = demo_run
    port = free_ports(1)[0]
    log = tmp_path_factory.mktemp("dashboard") / "streamlit.log"
    with log.open("w") as out:
        proc = subprocess.Popen([str(BIN / "etl"), "dashboard", "--profile", "dev", "--port", str(port)],
                                env={**os.environ, **stack.env, **env}, cwd=PROJECT_ROOT, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2).read() == b"ok":
                    break
            except OSError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.5)
        yield f"http://127.0.0.1:{port}", cfg
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(timeout=30)


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1400,2200", "--force-device-scale-factor=1"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


def open_page(driver, base: str, page: str, charts: bool):
    """Load ``?page=``, wait until the script finished (no running indicator) and, if asked, a chart drew."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(f"{base}/?page={page}")
    wait = WebDriverWait(driver, 120, poll_frequency=0.5)
    wait.until(lambda d: any(h.text == PAGES[page] for h in d.find_elements(By.CSS_SELECTOR, "h1")))

    def settled(d):
        running = d.find_elements(By.CSS_SELECTOR, '[data-testid="stStatusWidget"]')
        if running and "Running" in running[0].text:
            return False
        return not charts or d.find_elements(By.CSS_SELECTOR, '[data-testid="stVegaLiteChart"] canvas, '
                                                              '[data-testid="stVegaLiteChart"] svg')
    wait.until(settled)
    time.sleep(1.0)                 # the charts' own drawing after Vega mounted them
    return driver


def screenshots_dir(tmp_path: Path) -> Path:
    wanted = os.environ.get("DASHBOARD_SCREENSHOTS")
    folder = (PROJECT_ROOT / wanted) if wanted else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def test_every_page_opens_in_chromium_with_its_charts_and_no_error(dashboard, browser, tmp_path):
    from selenium.webdriver.common.by import By

    base, _ = dashboard
    folder = screenshots_dir(tmp_path)
    for page in PAGES:
        open_page(browser, base, page, charts=page in CHART_PAGES)
        errors = [e.text for e in browser.find_elements(By.CSS_SELECTOR, '[data-testid="stAlertContentError"], '
                                                                         '[data-testid="stException"]')]
        assert not errors, (page, errors)
        if page == "orders":                # the POS order events reached the order analytics
            empty = [e.text for e in browser.find_elements(By.CSS_SELECTOR, '[data-testid="stAlertContentInfo"]')
                     if e.text.startswith("No rows: ")]
            assert not [t for t in empty if any(n in t for n in ("kpi_order_mix", "kpi_peak_hours",
                                                                 "kpi_basket_pairs_90d"))], empty
        assert "as the reader account" in browser.find_element(By.CSS_SELECTOR, '[data-testid="stSidebar"]').text
        shot = folder / f"dashboard-{page}.png"
        assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 10_000, page


def test_the_overview_headline_equals_gold(dashboard, browser, s3_spark):
    from selenium.webdriver.common.by import By

    base, cfg = dashboard
    open_page(browser, base, "overview", charts=True)
    labels = [e.text for e in browser.find_elements(By.CSS_SELECTOR, '[data-testid="stMetricLabel"]')]
    values = [e.text for e in browser.find_elements(By.CSS_SELECTOR, '[data-testid="stMetricValue"]')]
    shown = dict(zip(labels, values))

    def gold(name):
        return s3_spark.read.format("delta").load(f"{cfg.storage.lake}/gold/{name}")

    day = gold("kpi_daily_sales").filter(F.col("date") == F.lit(DEMO_RUN_DATE)).first()
    month = gold("kpi_monthly_order_trends").filter(F.col("sales_month") == f"{DEMO_RUN_DATE:%Y-%m}").first()
    assert shown["Revenue on the run date"] == shaping.money(day["revenue"])
    assert shown["Orders on the run date"] == shaping.count(day["order_count"])
    assert shown["Revenue, month to date"] == shaping.money(month["revenue"])
    assert shown["Orders, month to date"] == shaping.count(month["order_count"])
    assert shown["Customers with orders, month to date"] == shaping.count(month["unique_customers"])
    assert day["revenue"] > 0 and month["order_count"] > 0                       # not a trivially equal zero
