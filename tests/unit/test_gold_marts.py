"""The gold registry (etl/gold/marts.py): every table has the declared columns and exact types,
sort keys order as declared, inputs are checked, and no gold module reads the wall clock."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal as D
from pathlib import Path

import pytest
from chispa import assert_df_equality
from pyspark.sql.types import _parse_datatype_string

from etl.contracts.silver import DIM_CUSTOMER, SALES_LINES, TRANSACTIONS
from etl.gold.facts import all_facts
from etl.gold.marts import FACT_INPUTS, GOLD_TABLES, INPUTS, build_all, sort_columns

RUN_DATE = date(2026, 3, 15)
GOLD_SOURCES = sorted(Path(__file__).resolve().parents[2].joinpath("etl", "gold").glob("*.py"))


@pytest.fixture(scope="module")
def empty_inputs(spark):
    transactions = spark.createDataFrame([], TRANSACTIONS)
    return {
        **all_facts(transactions),
        "transactions": transactions,
        "transactions_365d": transactions,
        "sales_lines": spark.createDataFrame([], SALES_LINES),
        "dim_customer": spark.createDataFrame([], DIM_CUSTOMER),
        "sales_team": spark.createDataFrame([], "id int, first_name string, last_name string"),
        "products": spark.createDataFrame([], "id int, name string, sku_id string, category string"),
        **{name: spark.createDataFrame([], GOLD_TABLES[name].schema) for name in ("kpi_channel_daily",)},
    }


def _types(schema):
    return [(field.name, field.dataType.simpleString()) for field in schema.fields]


def test_registry_lists_every_table_of_the_metrics():
    assert list(GOLD_TABLES) == [
        "customers_data_mart", "sales_team_data_mart", "kpi_repeat_customers", "kpi_regional_revenue",
        "kpi_monthly_order_trends", "kpi_top_customers_30d", "kpi_product_sales_30d", "kpi_daily_sales", "alerts",
        "kpi_channel_daily", "kpi_order_mix", "kpi_peak_hours", "kpi_menu_performance_30d", "customer_rfm",
        "kpi_basket_pairs_90d", "kpi_cohort_retention", "kpi_revenue_forecast", "forecast_backtest"]
    names = list(GOLD_TABLES)
    for index, table in enumerate(GOLD_TABLES.values()):
        # Inputs are silver, reference, facts, or a gold table built earlier in the registry.
        assert set(table.inputs) <= set(INPUTS) | set(FACT_INPUTS) | set(names[:index]), table.name


@pytest.mark.parametrize("name", list(GOLD_TABLES))
def test_table_has_the_registry_columns_and_exact_types(empty_inputs, name):
    table = GOLD_TABLES[name]
    frame = table.function(*(empty_inputs[i] for i in table.inputs), RUN_DATE)
    assert _types(frame.schema) == _types(_parse_datatype_string(table.schema))


def test_build_all_gives_every_table_in_registry_order_and_types(empty_inputs):
    built = build_all(empty_inputs, RUN_DATE, incentive_rate=D("0.02"))
    assert list(built) == list(GOLD_TABLES)
    for name, frame in built.items():
        assert _types(frame.schema) == _types(_parse_datatype_string(GOLD_TABLES[name].schema)), name


def test_missing_input_frame_is_named(empty_inputs):
    inputs = {k: v for k, v in empty_inputs.items() if k != "products"}
    with pytest.raises(ValueError, match="kpi_product_sales_30d needs input frame.*products"):
        GOLD_TABLES["kpi_product_sales_30d"].build(inputs, RUN_DATE)


def test_sort_keys_order_descending_and_nulls_as_declared(spark):
    # kpi_product_sales_30d: revenue_rank, product_name, product_id NULLS LAST
    rows = [(None, "Cone", 1, D("5.00"), 1), (7, "Cone", 1, D("5.00"), 1), (3, "Bar", 2, D("9.00"), 1),
            (2, "Tub", 1, D("1.00"), 4)]
    ddl = "product_id int, product_name string, quantity int, revenue decimal(18,2), revenue_rank int"
    frame = spark.createDataFrame(rows, ddl)
    expected = spark.createDataFrame([rows[2], rows[1], rows[0], rows[3]], ddl)
    assert_df_equality(GOLD_TABLES["kpi_product_sales_30d"].ordered(frame), expected)


def test_descending_sort_key_puts_larger_values_first(spark):
    rows = [(1, "A", 2, D("3.00")), (2, "B", 5, D("1.00")), (3, "C", 2, D("9.00"))]
    ddl = "customer_id int, customer_name string, order_count int, total_amount decimal(18,2)"
    expected = spark.createDataFrame([rows[1], rows[0], rows[2]], ddl)
    assert_df_equality(GOLD_TABLES["kpi_repeat_customers"].ordered(spark.createDataFrame(rows, ddl)), expected)


def test_malformed_sort_key_is_rejected():
    with pytest.raises(ValueError, match="sort key 'revenue DOWN'"):
        sort_columns(("revenue DOWN",))


@pytest.mark.parametrize("source", GOLD_SOURCES, ids=lambda p: p.name)
def test_no_gold_module_reads_the_wall_clock(source):
    code = source.read_text()
    clock = re.findall(r"\b(?:now|today|utcnow|current_date|current_timestamp|curdate|localtimestamp|time\.time)\b",
                       code, flags=re.IGNORECASE)
    assert clock == [], f"{source.name} reads the clock: {clock}"
