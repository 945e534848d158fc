"""MySQL migrations and loads (etl/export/mysql.py): statement splitting, version order, the DDL of every
gold table against its Spark schema (columns, order, exact types, keys), and the statements of the swap."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

import pytest
from pyspark.sql import types as T
from pyspark.sql.types import _parse_datatype_string

from etl.export.mysql import (MIGRATIONS_DIR, SNAPSHOT_TABLES, Content, MySQLTarget, _java_message, collect_small,
                              content_of, insert_statements, migrations, record_history, record_loaded, record_runs,
                              served_columns, served_frame, sql_literal, unchanged_tables,
                              split_statements, swap_in)
from etl.gold.marts import GOLD_TABLES


def test_split_statements_at_semicolon_ending_a_line():
    sql = (
        "-- V009: a comment line; with a semicolon\n"
        "CREATE TABLE a (\n"
        "  id INT COMMENT 'x; y'\n"
        ");\n"
        "\n"
        "  -- indented comment\n"
        "INSERT INTO a VALUES (1);   \n"
        "DROP TABLE b;"
    )
    assert split_statements(sql) == [
        "CREATE TABLE a (\n  id INT COMMENT 'x; y'\n)",
        "INSERT INTO a VALUES (1)",
        "DROP TABLE b",
    ]


def test_split_statements_of_an_empty_or_comment_only_file():
    assert split_statements("") == []
    assert split_statements("-- nothing yet;\n\n") == []


def test_migration_versions_are_sorted_and_unique():
    versions = [v for v, _ in migrations()]
    assert versions, "no migrations found in resources/sql"
    assert versions == sorted(versions)
    assert len(versions) == len(set(versions))
    assert all(re.fullmatch(r"V\d{3}", v) for v in versions)


def test_v001_creates_the_sales_team_mart_and_the_load_log():
    sql = dict(migrations())["V001"]
    statements = split_statements(sql)
    assert [s.split("(")[0].split()[-1] for s in statements] == ["sales_team_data_mart", "etl_runs"]
    assert all(s.startswith("CREATE TABLE IF NOT EXISTS") for s in statements)


def test_migrations_are_read_in_version_order(tmp_path):
    (tmp_path / "V010__later.sql").write_text("SELECT 10;\n")
    (tmp_path / "V002__earlier.sql").write_text("SELECT 2;\n")
    (tmp_path / "notes.sql").write_text("SELECT 0;\n")
    assert migrations(tmp_path) == [("V002", "SELECT 2;\n"), ("V010", "SELECT 10;\n")]


def test_password_is_never_part_of_the_jdbc_url():
    target = MySQLTarget("jdbc:mysql://127.0.0.1:3406/retail_gold?useSSL=false", "etl", "pw-123")
    assert "pw-123" not in target.url and "pw-123" not in target.describe()
    assert target.describe() == "jdbc:mysql://127.0.0.1:3406/retail_gold"
    assert target.properties()["password"] == "pw-123"


# -- the DDL of every gold table (V001 + V002) against the gold schemas of etl/gold/marts.py ----------------

# The gold tables V002 created (with V001's sales_team_data_mart); later tables come in later migrations.
V002_TABLES = ("customers_data_mart", "sales_team_data_mart", "kpi_repeat_customers", "kpi_regional_revenue",
               "kpi_monthly_order_trends", "kpi_top_customers_30d", "kpi_product_sales_30d", "kpi_daily_sales",
               "alerts")
# Applied migrations never change (a database that ran them would never see the edit): add a V<NNN+1>.
APPLIED_MIGRATIONS = {
    "V001__sales_team_data_mart.sql": "44e00e80",
    "V002__gold_tables.sql": "8f482ec1",
    "V003__etl_run_records.sql": "3e404788",
    "V004__etl_gold_loaded.sql": "5e7c474a",
    "V005__served_names_and_history.sql": "976a9174",
    "V006__order_analytics.sql": "eeec3f88",
}
# Words MySQL 8 reserves that a gold column could be named after; such a column must be `quoted`.
RESERVED = {"rank", "dense_rank", "row_number", "order", "group", "key", "index", "range", "interval",
            "lead", "lag", "rows", "groups", "window", "usage", "condition", "desc", "asc", "check"}


@dataclass
class Column:
    name: str
    sql_type: str           # upper case, as declared: INT, DECIMAL(18,2), VARCHAR(255), BIGINT UNSIGNED
    not_null: bool
    invisible: bool
    generated: bool
    auto_increment: bool
    quoted: bool
    comment: str | None


@dataclass
class Table:
    name: str
    columns: list[Column] = field(default_factory=list)
    primary_key: list[str] = field(default_factory=list)
    unique_keys: list[list[str]] = field(default_factory=list)
    keys: list[list[str]] = field(default_factory=list)
    options: str = ""

    @property
    def visible(self) -> list[Column]:
        return [c for c in self.columns if not c.invisible]


def _table_elements(text: str, start: int) -> tuple[list[str], int]:
    """The comma-separated elements of the parenthesised list opening just before ``text[start]``
    (commas inside parentheses, quotes and backticks do not count), and the index of its closing ``)``."""
    parts, depth, quote, begin, i = [], 0, None, start, start
    while i < len(text):
        ch = text[i]
        if quote:
            if ch == quote and text[i + 1:i + 2] == quote:
                i += 1                                        # '' or `` inside a quoted text
            elif ch == quote:
                quote = None
        elif ch in "'`\"":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")" and depth == 0:
            parts.append(text[begin:i].strip())
            return [p for p in parts if p], i
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(text[begin:i].strip())
            begin = i + 1
        i += 1
    raise AssertionError(f"unbalanced parentheses in {text[:60]}")


def _key_columns(part: str) -> list[str]:
    inside = part[part.index("(") + 1:part.rindex(")")]
    return [c.strip().strip("`") for c in inside.split(",")]


def _parse_create(statement: str) -> Table:
    head = re.match(r"CREATE TABLE IF NOT EXISTS `?(\w+)`?\s*\(", statement)
    assert head, f"not a CREATE TABLE IF NOT EXISTS: {statement[:60]}"
    table = Table(head.group(1))
    elements, body_end = _table_elements(statement, head.end())
    table.options = statement[body_end + 1:]
    for part in elements:
        element = re.match(r"(PRIMARY\s+KEY|UNIQUE|KEY|INDEX|CONSTRAINT|FOREIGN|FULLTEXT|SPATIAL|CHECK)\b",
                           part, re.IGNORECASE)
        kind = element.group(1).split()[0].upper() if element else None
        if kind == "PRIMARY":
            table.primary_key = _key_columns(part)
        elif kind == "UNIQUE":
            table.unique_keys.append(_key_columns(part))
        elif kind in ("KEY", "INDEX"):
            table.keys.append(_key_columns(part))
        elif kind:
            raise AssertionError(f"{table.name}: unexpected table element {part[:40]}")
        else:
            match = re.match(r"(`?)(\w+)`?\s+(\w+(?:\s*\(\s*\d+\s*(?:,\s*\d+\s*)?\))?(?:\s+UNSIGNED)?)", part,
                             re.IGNORECASE)
            assert match, f"{table.name}: cannot read the column definition {part[:60]}"
            comment = re.search(r"COMMENT\s+'((?:[^']|'')*)'", part, re.IGNORECASE)
            rest = re.sub(r"COMMENT\s+'(?:[^']|'')*'", "", part[match.end():], flags=re.IGNORECASE).upper()
            rest = re.sub(r"\bAS\s*\(.*\)", " AS () ", rest, flags=re.DOTALL)
            sql_type = re.sub(r"\s+", " ", re.sub(r"\s*([(),])\s*", r"\1", match.group(3))).upper()
            table.columns.append(Column(
                name=match.group(2), sql_type=sql_type,
                not_null="NOT NULL" in rest, invisible=" INVISIBLE" in f" {rest}",
                generated=" AS (" in f" {rest}", auto_increment="AUTO_INCREMENT" in rest,
                quoted=match.group(1) == "`", comment=comment.group(1) if comment else None))
    return table


def ddl_tables() -> dict[str, Table]:
    """Every table as the migrations leave it: CREATE TABLE, then RENAME TABLE (pairs in order, as
    MySQL applies them) and DROP TABLE of later migrations."""
    tables: dict[str, Table] = {}
    for version, sql in migrations():
        for statement in split_statements(sql):
            upper = statement.upper()
            if upper.startswith("CREATE TABLE"):
                table = _parse_create(statement)
                assert table.name not in tables, f"{table.name} is created twice ({version})"
                tables[table.name] = table
            elif upper.startswith("RENAME TABLE"):
                for pair in statement[len("RENAME TABLE"):].split(","):
                    old, new = (n.strip().strip("`") for n in re.split(r"\s+TO\s+", pair.strip(), flags=re.I))
                    assert old in tables and new not in tables, f"{version}: RENAME {old} TO {new}"
                    tables[new] = tables.pop(old)
                    tables[new].name = new
            elif upper.startswith("DROP TABLE"):
                for name in re.sub(r"^DROP TABLE( IF EXISTS)?", "", statement, flags=re.I).split(","):
                    tables.pop(name.strip().strip("`"), None)
    return tables



def expected_sql_types(name: str, dtype: T.DataType) -> set[str] | str:
    """The SQL types a Spark column may be declared as (a set), or a regex for text."""
    if isinstance(dtype, T.DecimalType):
        return {f"DECIMAL({dtype.precision},{dtype.scale})"}
    if isinstance(dtype, T.StringType):
        return r"CHAR\(7\)" if name.endswith("_month") else r"(VAR)?CHAR\(\d+\)|TEXT|MEDIUMTEXT"
    simple = {T.IntegerType: {"INT", "INTEGER"}, T.LongType: {"BIGINT"}, T.ShortType: {"SMALLINT"},
              T.ByteType: {"TINYINT"}, T.DateType: {"DATE"}, T.BooleanType: {"BOOLEAN", "BOOL", "TINYINT(1)"},
              T.TimestampType: {"DATETIME(3)", "DATETIME(6)", "TIMESTAMP(3)", "TIMESTAMP(6)"},
              T.DoubleType: {"DOUBLE"}}
    for spark_type, sql_types in simple.items():
        if isinstance(dtype, spark_type):
            return sql_types
    raise AssertionError(f"no MySQL type mapping for Spark type {dtype.simpleString()} ({name})")


@pytest.fixture(scope="module")
def gold_schemas(spark):
    """Declared column names and exact types of every gold table (tests/unit/test_gold_marts.py
    checks that each builder's output has exactly these)."""
    return {name: _parse_datatype_string(table.schema) for name, table in GOLD_TABLES.items()}


def test_every_gold_table_has_ddl_in_a_migration():
    tables = ddl_tables()
    assert set(GOLD_TABLES) <= set(tables), f"no DDL for {sorted(set(GOLD_TABLES) - set(tables))}"
    assert set(tables) - set(GOLD_TABLES) == {"etl_table_loads", "etl_run_records", "etl_gold_loaded",
                                              "dq_results", "rejected_files",
                                              *(f"{t}_history" for t in SNAPSHOT_TABLES)}


@pytest.mark.parametrize("name", ["dq_results", "rejected_files"])
def test_the_served_ops_tables_ddl_is_their_served_frame(spark, name):
    """V007's columns are what etl/export/ops_served.py makes of the ops tables, in order, with the types
    the gold tables map to, every column commented and the lake's key as the primary key."""
    from etl import catalog
    from etl.export.ops_served import SHAPERS

    source = catalog.SERVED_OPS[name]
    frame = SHAPERS[name](spark.createDataFrame([], catalog.table("ops", source).schema))
    table = ddl_tables()[name]
    assert [c.name for c in table.visible] == frame.columns
    for column, spark_field in zip(table.visible, frame.schema.fields):
        expected = expected_sql_types(column.name, spark_field.dataType)
        assert (column.sql_type in expected if isinstance(expected, set)
                else re.fullmatch(expected, column.sql_type)), (name, column.name, column.sql_type)
        assert column.not_null == (not spark_field.nullable), (name, column.name)
        assert column.comment, (name, column.name)
    key = [c.split("(")[0] for c in table.primary_key]
    lake_key = [c for c in catalog.table("ops", source).keys if c != "status"]
    assert sorted(key) == sorted(lake_key), (key, lake_key)


@pytest.mark.parametrize("name", list(GOLD_TABLES))
def test_ddl_columns_are_the_served_gold_columns_in_order(gold_schemas, name):
    table = ddl_tables()[name]
    assert [c.name for c in table.visible] == served_columns(name, [f.name for f in gold_schemas[name].fields])


@pytest.mark.parametrize("name", SNAPSHOT_TABLES)
def test_a_snapshot_history_has_the_live_columns_keyed_by_date_and_the_grain(name):
    tables = ddl_tables()
    live, history = tables[name], tables[f"{name}_history"]
    assert [(c.name, c.sql_type) for c in history.visible] == [(c.name, c.sql_type) for c in live.visible]
    assert live.visible[0].name == "as_of_date" and live.visible[0].sql_type == "DATE"
    grain = live.primary_key if name != "kpi_product_sales_30d" else live.unique_keys[0]
    assert ["as_of_date", *grain] in [history.primary_key, *history.unique_keys], name


def test_reserved_gold_names_are_renamed_in_mysql():
    served = {name: served_columns(name, table.columns) for name, table in GOLD_TABLES.items()}
    assert not {c for columns in served.values() for c in columns} & {"rank", "date"}
    assert "spend_rank" in served["kpi_top_customers_30d"] and "sales_date" in served["kpi_daily_sales"]
    assert "alert_date" in served["alerts"]


@pytest.mark.parametrize("name", list(GOLD_TABLES))
def test_each_spark_type_maps_to_the_declared_sql_type(gold_schemas, name):
    columns = {c.name: c for c in ddl_tables()[name].visible}
    served = served_columns(name, [f.name for f in gold_schemas[name].fields])
    for column, spark_field in zip(served[-len(gold_schemas[name].fields):], gold_schemas[name].fields):
        declared = columns[column].sql_type
        expected = expected_sql_types(spark_field.name, spark_field.dataType)
        if isinstance(expected, str):
            assert re.fullmatch(expected, declared), f"{name}.{spark_field.name}: {declared} is not text ({expected})"
        else:
            assert declared in expected, (f"{name}.{spark_field.name}: Spark {spark_field.dataType.simpleString()} "
                                          f"declared as {declared}, expected one of {sorted(expected)}")


def test_money_is_decimal_18_2_and_percentages_decimal_9_2(gold_schemas):
    """METRICS.md: money DECIMAL(18,2), percentages and day counts DECIMAL(9,2), never a float."""
    for name, table in ddl_tables().items():
        for column in table.columns:
            assert column.sql_type not in {"FLOAT", "DOUBLE", "REAL"}, f"{name}.{column.name} is a float"
            if column.name.endswith(("_pct", "_percentage", "_rate", "_between_purchases")):
                assert column.sql_type == "DECIMAL(9,2)", f"{name}.{column.name}"


@pytest.mark.parametrize("name", [*GOLD_TABLES, "etl_table_loads", "etl_run_records", "etl_gold_loaded",
                                  *(f"{t}_history" for t in SNAPSHOT_TABLES)])
def test_table_is_innodb_utf8mb4_with_a_primary_key_and_comments(name):
    table = ddl_tables()[name]
    assert re.search(r"ENGINE=InnoDB", table.options) and re.search(r"CHARSET=utf8mb4\b", table.options), name
    assert "COMMENT=" in table.options, f"{name} has no table comment"
    assert table.primary_key, f"{name} has no primary key"
    by_name = {c.name: c for c in table.columns}
    for column in table.columns:
        assert column.comment, f"{name}.{column.name} has no comment"
    for key_column in table.primary_key:
        assert by_name[key_column].not_null, f"{name}: primary key column {key_column} must be NOT NULL"
        assert not by_name[key_column].generated, f"{name}: MariaDB refuses a primary key on a generated column"
    for key in [table.primary_key, *table.unique_keys, *table.keys]:
        assert set(key) <= set(by_name), f"{name}: key {key} names an unknown column"


@pytest.mark.parametrize("name", list(GOLD_TABLES))
def test_invisible_columns_are_filled_by_the_server(name):
    """The loader inserts the gold columns only; any other column must be generated or auto-increment."""
    for column in ddl_tables()[name].columns:
        if column.invisible:
            assert column.generated or column.auto_increment, f"{name}.{column.name}"


def test_every_gold_grain_is_a_unique_key():
    """The primary key is the grain; kpi_product_sales_30d's grain has a nullable column (product_id),
    so there the grain is a unique key on a generated column and the primary key a surrogate."""
    grains = {
        "customers_data_mart": ["customer_id", "sales_month"],
        "sales_team_data_mart": ["store_id", "sales_person_id", "sales_month"],
        "kpi_repeat_customers": ["customer_id"],
        "kpi_regional_revenue": ["region"],
        "kpi_monthly_order_trends": ["sales_month"],
        "kpi_top_customers_30d": ["customer_id"],
        "kpi_product_sales_30d": ["product_key"],
        "kpi_daily_sales": ["sales_date"],
        "alerts": ["alert_date"],
        "kpi_channel_daily": ["sales_date", "channel"],
        "kpi_order_mix": ["sales_month", "dimension", "value"],
        "kpi_peak_hours": ["day_of_week", "hour"],
        "kpi_menu_performance_30d": ["product_id"],
        "customer_rfm": ["customer_id"],
        "kpi_basket_pairs_90d": ["product_id_a", "product_id_b"],
        "kpi_cohort_retention": ["cohort_month", "month_offset"],
        "kpi_revenue_forecast": ["channel", "forecast_date"],
        "forecast_backtest": ["channel"],
    }
    tables = ddl_tables()
    assert set(grains) == set(GOLD_TABLES)
    for name, grain in grains.items():
        assert grain == tables[name].primary_key or grain in tables[name].unique_keys, name
    products = {c.name: c for c in tables["kpi_product_sales_30d"].columns}
    assert products["product_key"].generated and products["product_key"].invisible
    assert products["row_id"].auto_increment and tables["kpi_product_sales_30d"].primary_key == ["row_id"]


def test_consumer_query_indexes_exist():
    tables = ddl_tables()
    leading = {name: {tuple(k[:1]) for k in [t.primary_key, *t.unique_keys, *t.keys]} for name, t in tables.items()}
    assert ("sales_month",) in leading["customers_data_mart"]       # by month
    assert ("customer_id",) in leading["customers_data_mart"]       # by customer
    assert ("store_id",) in leading["sales_team_data_mart"]         # by store
    assert ("sales_month",) in leading["sales_team_data_mart"]
    assert ("sales_date",) in leading["kpi_daily_sales"] and ("alert_date",) in leading["alerts"]   # by date
    assert ("product_id",) in leading["kpi_product_sales_30d"]
    assert ("spend_rank",) in leading["kpi_top_customers_30d"]
    # order analytics (V006): a channel's days, a dimension's months, ranks, segments, the other product
    # of a pair, a calendar month across cohorts, a forecast day across runs
    assert ("channel",) in leading["kpi_channel_daily"] and ("dimension",) in leading["kpi_order_mix"]
    assert ("busiest_rank",) in leading["kpi_peak_hours"] and ("revenue_rank",) in leading["kpi_menu_performance_30d"]
    assert ("underperforming",) in leading["kpi_menu_performance_30d"]
    assert ("rfm_segment",) in leading["customer_rfm"] and ("customer_id",) in leading["customer_rfm_history"]
    assert ("product_id_b",) in leading["kpi_basket_pairs_90d"] and ("lift_rank",) in leading["kpi_basket_pairs_90d"]
    assert ("sales_month",) in leading["kpi_cohort_retention"]
    assert ("forecast_date",) in leading["kpi_revenue_forecast"]
    assert ("forecast_date",) in leading["kpi_revenue_forecast_history"]
    assert all(("as_of_date",) in leading[f"{t}_history"] for t in SNAPSHOT_TABLES)      # a trend by date


def test_reserved_words_are_quoted():
    for name, table in ddl_tables().items():
        for column in table.columns:
            if column.name.lower() in RESERVED:
                assert column.quoted, f"{name}.{column.name} is a reserved word in MySQL 8: write it `{column.name}`"


def test_v002_creates_every_other_gold_table():
    statements = split_statements(dict(migrations())["V002"])
    assert all(s.startswith("CREATE TABLE IF NOT EXISTS") for s in statements)   # safe to run again
    created = [re.match(r"CREATE TABLE IF NOT EXISTS `?(\w+)", s).group(1) for s in statements]
    assert created == [t for t in V002_TABLES if t != "sales_team_data_mart"]


def test_v006_creates_the_order_analytics_tables_and_their_histories():
    """Every gold table after V002's gets its table in V006, each snapshot among them its history; all
    CREATE TABLE IF NOT EXISTS (a partly applied V006 runs again), nothing else changed."""
    statements = split_statements(dict(migrations())["V006"])
    assert all(s.startswith("CREATE TABLE IF NOT EXISTS") for s in statements)
    created = [re.match(r"CREATE TABLE IF NOT EXISTS `?(\w+)", s).group(1) for s in statements]
    new = [t for t in GOLD_TABLES if t not in V002_TABLES]
    assert len(new) == 9
    assert created == [*new, *(f"{t}_history" for t in SNAPSHOT_TABLES if t in new)]
    assert [t for t in new if t in SNAPSHOT_TABLES] == [
        "kpi_peak_hours", "kpi_menu_performance_30d", "customer_rfm", "kpi_basket_pairs_90d", "kpi_revenue_forecast",
        "forecast_backtest"]


def test_order_analytics_text_keys_are_binary_and_ratios_exact():
    """Text in a key compares as gold groups it (case- and accent-sensitively); ratios keep 4 decimals."""
    statements = {re.match(r"CREATE TABLE IF NOT EXISTS `?(\w+)", s).group(1): s
                  for s in split_statements(dict(migrations())["V006"])}
    tables = ddl_tables()
    for name, statement in statements.items():
        table = tables[name]
        text = {c.name for c in table.columns if c.sql_type.startswith("VARCHAR")}
        for column in set(table.primary_key) & text:
            line = next(line for line in statement.splitlines() if re.match(rf"\s*`?{column}`?\s", line))
            assert "COLLATE utf8mb4_bin" in line, f"{name}.{column}"
    ratios = {c.name: c.sql_type for c in tables["kpi_basket_pairs_90d"].columns}
    assert all(ratios[c] == "DECIMAL(9,4)" for c in ("support", "confidence_a_to_b", "confidence_b_to_a", "lift"))


def test_applied_migrations_never_change():
    for file_name, digest in APPLIED_MIGRATIONS.items():
        actual = hashlib.sha256((MIGRATIONS_DIR / file_name).read_bytes()).hexdigest()[:8]
        assert actual == digest, f"{file_name} changed: never edit an applied migration, add a new V<NNN> file"


# -- statements of the load ----------------------------------------------------------------------------------

class RecordingConnection:
    def __init__(self):
        self.statements: list[str] = []

    def execute(self, sql: str) -> None:
        self.statements.append(sql)


def test_swap_makes_every_table_live_in_one_rename():
    conn = RecordingConnection()
    swap_in(conn, ["a", "kpi_b"])
    assert conn.statements == [
        "DROP TABLE IF EXISTS a__retired",
        "DROP TABLE IF EXISTS kpi_b__retired",
        "RENAME TABLE a TO a__retired, a__staging TO a, kpi_b TO kpi_b__retired, kpi_b__staging TO kpi_b",
        "DROP TABLE a__retired, kpi_b__retired",
    ]


def test_swap_refuses_a_table_name_that_is_not_plain():
    with pytest.raises(ValueError, match="not a plain table name"):
        swap_in(RecordingConnection(), ["a; DROP TABLE b"])


def test_etl_runs_gets_one_row_per_table_in_one_statement():
    """An upsert into V005's etl_table_loads (key run_id, table_name), not REPLACE: the loader has no
    DELETE on the audit tables."""
    conn = RecordingConnection()
    record_runs(conn, "20261123T010203Z-abc123", date(2026, 11, 22), {"alerts": 0, "kpi_daily_sales": 3},
                datetime(2026, 11, 23, 1, 2, 5, 678000))
    assert conn.statements == [
        "INSERT INTO etl_table_loads (run_id, run_date, table_name, row_count, loaded_at) VALUES "
        "('20261123T010203Z-abc123', '2026-11-22', 'alerts', 0, '2026-11-23 01:02:05.678'), "
        "('20261123T010203Z-abc123', '2026-11-22', 'kpi_daily_sales', 3, '2026-11-23 01:02:05.678') "
        "ON DUPLICATE KEY UPDATE run_date = VALUES(run_date), row_count = VALUES(row_count), "
        "loaded_at = VALUES(loaded_at)"]


def test_served_frame_renames_reserved_columns_and_dates_a_snapshot(spark):
    top = spark.createDataFrame([(1, 7, "A", Decimal("9.00"), 2)], GOLD_TABLES["kpi_top_customers_30d"].schema)
    served = served_frame("kpi_top_customers_30d", top, date(2026, 11, 22))
    assert served.columns == ["as_of_date", "spend_rank", "customer_id", "customer_name", "total_spend", "order_count"]
    assert served.first()["as_of_date"] == date(2026, 11, 22) and dict(served.dtypes)["as_of_date"] == "date"
    daily = spark.createDataFrame([], GOLD_TABLES["alerts"].schema)
    assert served_frame("alerts", daily, date(2026, 11, 22)).columns == ["alert_date", "revenue", "expected", "reason"]


def test_history_replaces_the_rows_of_the_run_date_of_every_snapshot_in_one_transaction():
    conn = RecordingConnection()
    columns = {"kpi_regional_revenue": ["as_of_date", "region", "revenue"], "alerts": ["alert_date"]}
    record_history(conn, date(2026, 11, 22), ["alerts", "kpi_regional_revenue"], columns)
    assert conn.statements == [
        "START TRANSACTION",
        "DELETE FROM kpi_regional_revenue_history WHERE as_of_date = '2026-11-22'",
        "INSERT INTO kpi_regional_revenue_history (`as_of_date`, `region`, `revenue`) "
        "SELECT `as_of_date`, `region`, `revenue` FROM kpi_regional_revenue WHERE as_of_date = '2026-11-22'",
        "COMMIT"]


def test_error_text_masks_the_password_and_the_user_name():
    target = MySQLTarget("jdbc:mysql://h:1/db", "etl_1a2b", "s3cr3t-pw")     # both are secrets
    assert target.scrub("Access denied for 'etl_1a2b' using s3cr3t-pw") == "Access denied for '***' using ***"


class _Wrapped(Exception):
    """What py4j raises: the Java exception is on ``java_exception``."""

    def __init__(self, java):
        super().__init__("An error occurred while calling o42.connect.")
        self.java_exception = java


def test_java_message_names_the_root_cause_of_a_connection_failure(spark):
    jvm = spark.sparkContext._jvm
    refused = jvm.java.net.ConnectException("Connection refused")
    link = jvm.java.sql.SQLException("Communications link failure\n\nThe last packet sent ...", "08S01", refused)
    assert _java_message(_Wrapped(link)) == "Communications link failure (Connection refused)"
    denied = jvm.java.sql.SQLException("Access denied for user 'etl'@'localhost' (using password: YES)")
    assert _java_message(_Wrapped(denied)) == "Access denied for user 'etl'@'localhost' (using password: YES)"
    job = jvm.java.lang.RuntimeException("Job aborted due to stage failure: Task 1 failed ...",
                                         jvm.java.sql.SQLException("Data too long for column 'reason' at row 1"))
    assert _java_message(_Wrapped(job)) == "Data too long for column 'reason' at row 1"


# -- only what changed; small tables in multi-row INSERTs ------------------------------------------------------

def test_content_digest_ignores_row_order_and_layout_and_sees_every_change(spark):
    schema = "id int, name string, amount decimal(18,2), day date, flag boolean"
    rows = [(1, "a", Decimal("1.50"), date(2026, 11, 22), True), (2, None, None, None, None),
            (3, "b'; DROP TABLE x; --", Decimal("-0.01"), date(2026, 1, 1), False)]
    base = spark.createDataFrame(rows, schema)
    digest = lambda frame: content_of({"t": frame})["t"]
    assert digest(base) == Content(3, digest(base).digest)
    assert digest(spark.createDataFrame(list(reversed(rows)), schema).repartition(3)) == digest(base)
    changed = [rows[0], rows[1], (3, "b'; DROP TABLE x; --", Decimal("-0.02"), date(2026, 1, 1), False)]
    assert digest(spark.createDataFrame(changed, schema)) != digest(base)
    # a null moved to another column, a duplicated row, another type: all different content
    moved = [rows[0], (2, "", None, None, None), rows[2]]
    assert digest(spark.createDataFrame(moved, schema)) != digest(base)
    assert digest(spark.createDataFrame([*rows, rows[0]], schema)) != digest(base)
    assert digest(base.withColumn("id", base["id"].cast("bigint"))) != digest(base)
    empty = content_of({"e": spark.createDataFrame([], schema)})["e"]
    assert empty.rows == 0 and empty != digest(base)
    # every table in one query
    both = content_of({"x": base, "y": spark.createDataFrame(changed, schema)})
    assert both["x"] == digest(base) and both["y"] != both["x"]


class AnsweringConnection(RecordingConnection):
    def __init__(self, answers):
        super().__init__()
        self.answers = answers

    def query(self, sql: str):
        self.statements.append(sql)
        return next(rows for start, rows in self.answers.items() if sql.startswith(start))


def test_a_table_is_unchanged_only_with_the_recorded_digest_and_its_rows_still_live():
    contents = {"a": Content(2, "d" * 64), "b": Content(3, "e" * 64), "c": Content(1, "f" * 64),
                "d": Content(4, "1" * 64)}
    conn = AnsweringConnection({
        "SELECT table_name, content_hash": [("a", "d" * 64, "2"), ("b", "0" * 64, "3"), ("c", "f" * 64, "1")],
        "SELECT 'a'": [("a", "2"), ("c", "0")],       # c was emptied by hand since its load
    })
    assert unchanged_tables(conn, contents) == ["a"]
    assert conn.statements[-1] == "SELECT 'a', COUNT(*) FROM a UNION ALL SELECT 'c', COUNT(*) FROM c"


def test_the_loaded_content_is_recorded_after_the_swap_and_kept_tables_are_marked_checked():
    conn = RecordingConnection()
    record_loaded(conn, "r1", date(2026, 11, 22), {"a": Content(2, "d" * 64), "b": Content(0, "e" * 64)},
                  ["a"], ["b"], datetime(2026, 11, 23, 1, 2, 5, 678000))
    assert conn.statements == [
        "REPLACE INTO etl_gold_loaded (table_name, content_hash, row_count, run_id, run_date, loaded_at, "
        f"checked_run_id, checked_at) VALUES ('a', '{'d' * 64}', 2, 'r1', '2026-11-22', '2026-11-23 01:02:05.678', "
        "'r1', '2026-11-23 01:02:05.678')",
        "UPDATE etl_gold_loaded SET checked_run_id = 'r1', checked_at = '2026-11-23 01:02:05.678' "
        "WHERE table_name IN ('b')"]


def test_sql_literals_follow_the_spark_type_and_text_is_never_quoted_inline():
    assert sql_literal(None, T.StringType()) == "NULL"
    assert sql_literal("O'Brien \\ x", T.StringType()) == "_utf8mb4 X'" + "O'Brien \\ x".encode().hex() + "'"
    assert sql_literal("Zoë", T.StringType()) == "_utf8mb4 X'5a6fc3ab'"
    assert sql_literal("", T.StringType()) == "''"
    assert sql_literal(Decimal("1234.50"), T.DecimalType(18, 2)) == "1234.50"
    assert sql_literal(Decimal("1E+3"), T.DecimalType(18, 2)) == "1000"
    assert sql_literal(7, T.IntegerType()) == "7"
    assert sql_literal(True, T.BooleanType()) == "1" and sql_literal(False, T.BooleanType()) == "0"
    assert sql_literal("2026-11-22", T.DateType()) == "'2026-11-22'"
    for value, dtype in [("1; DROP TABLE a", T.IntegerType()), ("2026-11-22' OR 1=1", T.DateType()),
                         ("1); DROP", T.DecimalType(18, 2)), ("true", T.BooleanType()), (1.5, T.DoubleType())]:
        with pytest.raises(Exception):
            sql_literal(value, dtype)


def test_insert_statements_name_the_columns_and_hold_a_bounded_number_of_rows():
    schema = T.StructType([T.StructField("id", T.IntegerType()), T.StructField("rank", T.IntegerType())])
    statements = insert_statements("t__staging", schema, [{"id": n, "rank": None} for n in range(5)], 2)
    assert statements == ["INSERT INTO t__staging (`id`, `rank`) VALUES (0, NULL), (1, NULL)",
                          "INSERT INTO t__staging (`id`, `rank`) VALUES (2, NULL), (3, NULL)",
                          "INSERT INTO t__staging (`id`, `rank`) VALUES (4, NULL)"]
    assert insert_statements("t", schema, []) == []


def test_small_tables_are_collected_in_one_job_bounded_by_the_row_limit(spark):
    small = spark.createDataFrame([(1, "a", Decimal("0.10"), date(2026, 11, 22), None)],
                                  "id int, name string, amount decimal(18,2), day date, flag boolean")
    grown = spark.range(50).selectExpr("cast(id as int) as id")
    rows = collect_small({"small": small, "grown": grown}, 10)
    assert rows == {"small": [{"id": 1, "name": "a", "amount": Decimal("0.10"), "day": "2026-11-22"}]}
    # "grown" holds more than the limit (it grew since it was counted): left to the JDBC writer
    assert collect_small({}, 10) == {}


# -- TLS (docs/security.md, "TLS") ---------------------------------------------------------------
def _mysql_config(profile: str, **environ: str):
    from etl.config import load_config

    return load_config(profile, environ=environ)


@pytest.mark.parametrize("mode", ["REQUIRED", "VERIFY_CA", "VERIFY_IDENTITY"])
def test_the_url_carries_the_configured_ssl_mode(mode):
    from etl.export.mysql import mysql_url

    url = mysql_url(_mysql_config("docker", ETL__MYSQL__SSL_MODE=mode))
    assert f"sslMode={mode}" in url.split("?", 1)[1].split("&")
    assert "useSSL=false" not in url and "allowPublicKeyRetrieval" not in url


def test_plain_text_only_to_a_loopback_server():
    from etl.errors import ConfigError
    from etl.export.mysql import mysql_url

    assert "sslMode=DISABLED" in mysql_url(_mysql_config("dev"))          # the loopback MariaDB
    with pytest.raises(ConfigError, match="mysql.ssl_mode is DISABLED but mysql.host db.example.com"):
        mysql_url(_mysql_config("dev", ETL__MYSQL__HOST="db.example.com"))
    with pytest.raises(ConfigError):
        mysql_url(_mysql_config("docker", ETL__MYSQL__SSL_MODE="DISABLED"))


def test_tls_is_on_unless_a_profile_turns_it_off_and_verified_in_the_production_template():
    import yaml

    from etl.config import CONF_DIR, Config, _merge
    from etl.export.mysql import mysql_url

    assert _mysql_config("local").mysql.ssl_mode == "VERIFY_IDENTITY"       # the default
    assert _mysql_config("docker").mysql.ssl_mode == "REQUIRED"
    data = _merge(yaml.safe_load((CONF_DIR / "base.yaml").read_text()),
                  yaml.safe_load((CONF_DIR / "production.yaml.example").read_text()))
    production = Config.model_validate({**data, "profile": "production"})
    assert "sslMode=VERIFY_IDENTITY" in mysql_url(production)
    assert production.storage.s3.ssl_enabled and not production.storage.s3.prefixed_roots


# -- the accounts' grants, from the migrations (docs/security.md, "MySQL accounts") ----------------------
def _granted(statements: list[str], account: str) -> dict[str, str]:
    """Object -> privileges of ``account`` in GRANT statements."""
    out = {}
    for statement in statements:
        m = re.fullmatch(r"GRANT (.+) ON `db`\.`(\w+)` TO (\S+);", statement)
        assert m, statement
        if m.group(3) == account:
            out[m.group(2)] = m.group(1)
    return out


def test_every_table_and_view_the_migrations_leave_has_a_grant():
    from etl.export.mysql import AUDIT_TABLES, account_grants, schema_objects

    objects = schema_objects()
    # V005 and V006 replayed: renamed and temporary names count under their final names only
    assert objects["etl_table_loads"] == "table" and objects["etl_runs"] == "view"
    assert objects["alerts_legacy"] == "view" and objects["forecast_backtest_history"] == "table"
    assert not [name for name in objects if "__v00" in name]
    statements = account_grants("db", "L", "R")
    loader, reader = _granted(statements, "L"), _granted(statements, "R")
    assert set(objects) <= set(loader), set(objects) - set(loader)
    for table in AUDIT_TABLES:
        assert loader[table] == "SELECT, INSERT, UPDATE, CREATE"           # append-only: no DROP, ALTER, DELETE
    assert loader["etl_runs"] == "SELECT" and loader["kpi_daily_sales_legacy"] == "SELECT"
    assert "DROP" in loader["kpi_peak_hours__staging"] and "DROP" in loader["customer_rfm_history"]
    assert "DROP" in loader["dq_results__staging"] and "DROP" in loader["rejected_files__retired"]       # V007


def test_the_consumer_reads_every_served_gold_table_history_and_view_and_the_run_records_only():
    from etl.export.mysql import SNAPSHOT_TABLES, account_grants, schema_objects
    from etl.gold.marts import GOLD_TABLES

    reader = _granted(account_grants("db", "L", "R"), "R")
    assert set(reader.values()) == {"SELECT"}
    served = {*GOLD_TABLES, *(f"{t}_history" for t in SNAPSHOT_TABLES),
              *(n for n, kind in schema_objects().items() if kind == "view" and n.endswith("_legacy"))}
    records = {"etl_run_records", "etl_table_loads", "etl_runs"}
    quality = {"dq_results", "rejected_files"}                       # V007
    assert set(reader) == served | records | quality
    assert not {"schema_migrations", "etl_gold_loaded"} & set(reader)
    assert not [n for n in reader if n.endswith(("__staging", "__retired"))]


def test_the_consumer_may_read_every_table_the_dashboard_reads():
    """The dashboard signs in as the consumer (etl/dashboard/connect.py): a table its queries read that
    the derived grants leave out is a section saying "this account may not read" on every install."""
    pytest.importorskip("pymysql")
    from etl.dashboard.queries import TABLES_READ
    from etl.export.mysql import account_grants

    reader = _granted(account_grants("db", "L", "R"), "R")
    assert {"etl_run_records", "etl_table_loads"} <= set(TABLES_READ)
    assert not set(TABLES_READ) - set(reader), sorted(set(TABLES_READ) - set(reader))


def test_a_migration_table_no_grant_covers_stops_the_grants(tmp_path):
    """A future migration's table that is neither a gold table, a history, an audit table nor a view
    of one: an error naming it, never a table nobody may load or read."""
    from etl.export.mysql import MIGRATIONS_DIR, account_objects

    for path in MIGRATIONS_DIR.glob("V*__*.sql"):
        (tmp_path / path.name).write_text(path.read_text())
    (tmp_path / "V099__surprise.sql").write_text("CREATE TABLE IF NOT EXISTS kpi_surprise (id INT PRIMARY KEY);\n"
                                                 "CREATE OR REPLACE VIEW surprise_view AS SELECT 1;\n")
    with pytest.raises(ValueError, match="table kpi_surprise, view surprise_view, which no account grant covers"):
        account_objects(tmp_path)


def test_migrations_run_by_the_admin_are_recorded_and_only_the_pending_ones():
    from etl.export.mysql import pending_migration_statements

    everything = pending_migration_statements([])
    recorded = [s for s in everything if s.startswith("INSERT INTO schema_migrations")]
    assert [r.split("'")[1] for r in recorded] == [v for v, _ in migrations()]
    assert everything[-1] == "INSERT INTO schema_migrations VALUES ('V007', UTC_TIMESTAMP(3))"
    later = pending_migration_statements(["V001", "V002", "V003", "V004", "V005", "V006"])
    assert later[-1] == everything[-1] and not [s for s in later if "RENAME TABLE" in s]
    assert pending_migration_statements([v for v, _ in migrations()]) == []
