"""MySQL migrations (etl/export/mysql.py): statement splitting and version order."""

from __future__ import annotations

import re

from etl.export.mysql import MySQLTarget, migrations, split_statements


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
