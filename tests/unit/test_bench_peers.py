"""The benchmark's peers (benchmarks/peers.py): DuckDB and pandas compute the same two marts from the CSVs.

Their agreement with the pipeline's gold is checked by tests/integration/test_bench_smoke.py;
here, without Spark: the two peers agree with each other on generated files (two months,
a customer sharing another's phone, a sale after the run date), and the comparison
notices a changed cell.
"""

from __future__ import annotations

import csv
from datetime import date

import pytest

from benchmarks import peers
from devtools.generate import GenerateOptions, generate
from etl.gold.marts import GOLD_TABLES, _split_ddl

RUN_DATE = date(2026, 2, 10)


def kinds(mart: str) -> dict[str, str]:
    return {p.strip().split(" ", 1)[0]: p.strip().split(" ", 1)[1] for p in _split_ddl(GOLD_TABLES[mart].schema)}


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    out = tmp_path_factory.mktemp("peers")
    opts = GenerateOptions(start=date(2026, 1, 1), days=42, stores=3, customers=60, sales_per_day=25, seed=3,
                           feeds=("sales", "customers", "stores", "products", "sales_team"))
    generate(opts, out, progress=False)
    base = peers.customer_base_file(out)
    rows = list(csv.DictReader(base.open()))
    rows[1]["phone_number"] = "+91 " + rows[0]["phone_number"]      # customer 2 is customer 1 (same phone)
    with base.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return out


@pytest.fixture(scope="module")
def marts(folder):
    return peers.duckdb_marts(folder, RUN_DATE), peers.pandas_marts(folder, RUN_DATE)


def test_duckdb_and_pandas_peers_agree(marts):
    duck, pandas = marts
    for mart in peers.MARTS:
        assert list(duck[mart].columns) == list(kinds(mart)) == list(pandas[mart].columns)
        assert len(duck[mart]) > 0
        assert peers.differences(duck[mart], pandas[mart], kinds(mart)) == []


def test_peers_follow_the_pipeline_rules(marts):
    for frame in (m["customers_data_mart"] for m in marts):
        assert 2 not in set(frame["customer_id"])                    # deduplicated by phone into customer 1
        assert set(frame["sales_month"]) == {"2026-01", "2026-02"}   # nothing after the run date
        assert frame["phone_number"].str.fullmatch(r"\d{10}").all()
    for frame in (m["sales_team_data_mart"] for m in marts):
        assert (frame.groupby(["store_id", "sales_month"])["top_performance_rank"].min() == 1).all()


def test_differences_name_the_rows_that_differ(marts):
    duck, _ = marts
    frame = duck["sales_team_data_mart"]
    changed = frame.copy()
    changed.loc[0, "total_sales"] = float(changed.loc[0, "total_sales"]) + 0.01
    found = peers.differences(frame, changed, kinds("sales_team_data_mart"))
    assert found[0] == f"rows: gold {len(frame)}, peer {len(frame)}"
    assert any(line.startswith("only in peer:") for line in found)
