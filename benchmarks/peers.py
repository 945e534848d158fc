"""The two marts computed straight from the landing CSV files by the tools a user would pick instead.

    duckdb_marts(folder, run_date)  -> {"customers_data_mart": df, "sales_team_data_mart": df}
    pandas_marts(folder, run_date)  -> the same, in the style of the source notebook (all in memory)

``folder`` is what ``etl generate --no-upload --out DIR --feeds sales,customers,stores,products,sales_team``
writes (in-store sales ``sales/<date>/sales_<date>.csv``, customers, reference data),
generated without injected defects. Both return pandas DataFrames with the gold column
names and order of ``etl.gold.marts`` (money as 2-decimal numbers), and compute as of
``run_date`` (METRICS.md). Neither keeps state: an "incremental" day is a recompute from
all files.

Rules of the pipeline a peer has to reproduce to agree with gold (DATA_CONTRACT.md,
METRICS.md), on clean data:

* only sales dated on or before the run date count (later ones are quarantined by
  ``sales_date_out_of_range``);
* customers are deduplicated by normalised phone (digits only, ``91``/``0`` prefix
  dropped, valid at 10 digits): a sale counts under the lowest ``customer_id`` sharing
  the phone, and the other ids do not appear; a sale whose customer is not in the
  reference keeps its id, with name ``Unknown``;
* the customer's current record is the full base delivered on the first day
  (``customers/<first date>/customers_<first date>.csv``). Later deliveries are re-sent unchanged
  records when the generator runs without defects (some as XLSX or with aliased
  headers), so the peers do not read them: they would have to implement the
  pipeline's SCD2 merge and header aliasing to use them;
* names are ``first_name || ' ' || last_name`` trimmed; money is exact (integer cents)
  and every rounded figure is rounded half-up once.

What the peers leave out because the comparison data has none of it: quarantine of bad
rows and files, duplicate-file detection, other channels (online orders, POS events),
product matching (the two marts do not use products).

The DuckDB peer runs the two mart sections of ``tests/unit/gold_reference.sql`` (the
independent SQL implementation the differential test checks gold against) over views
of the CSV files, read with explicit column types.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
REFERENCE_SQL = ROOT / "tests" / "unit" / "gold_reference.sql"
MARTS = ("customers_data_mart", "sales_team_data_mart")
DEFAULT_INCENTIVE_RATE = Decimal("0.01")   # conf/base.yaml gold.incentive_rate

CUSTOMERS_COLUMNS = ["customer_id", "full_name", "address", "phone_number", "region", "sales_month",
                     "total_sales", "monthly_transactions", "customer_lifetime_value", "first_purchase_month",
                     "last_purchase_month", "purchase_frequency", "monetary_value", "avg_monthly_spending",
                     "max_single_transaction", "avg_time_between_purchases", "inactive_status",
                     "customer_segment"]
SALES_TEAM_COLUMNS = ["store_id", "sales_person_id", "full_name", "sales_month", "total_sales",
                      "total_transactions", "avg_transaction_value", "max_single_transaction",
                      "avg_sales_per_month", "top_performance_rank", "incentive", "month_over_month_variance",
                      "sales_growth_rate", "year_to_date_sales", "first_sale_month", "last_sale_month",
                      "sales_contribution_percentage"]

SALES_TYPES = {"customer_id": "INTEGER", "store_id": "INTEGER", "product_name": "VARCHAR", "sales_date": "DATE",
               "sales_person_id": "INTEGER", "price": "DECIMAL(18,2)", "quantity": "INTEGER",
               "total_cost": "DECIMAL(18,2)"}
CUSTOMER_TYPES = {"customer_id": "INTEGER", "first_name": "VARCHAR", "last_name": "VARCHAR", "address": "VARCHAR",
                  "pincode": "VARCHAR", "phone_number": "VARCHAR", "region": "VARCHAR",
                  "customer_joining_date": "DATE"}
TEAM_TYPES = {"id": "INTEGER", "first_name": "VARCHAR", "last_name": "VARCHAR", "manager_id": "INTEGER",
              "is_manager": "VARCHAR", "address": "VARCHAR", "pincode": "VARCHAR", "joining_date": "DATE"}


def sales_files(folder: Path) -> list[Path]:
    return sorted(Path(folder).glob("sales/*/sales_*.csv"))


def customer_base_file(folder: Path) -> Path | None:
    """The first day's customers delivery: the full base (later ones are unchanged re-sends)."""
    files = sorted(Path(folder).glob("customers/*/customers_*.csv"))
    return files[0] if files else None


def _rate_fraction(rate: Decimal) -> tuple[int, int]:
    num, den = Decimal(rate).as_integer_ratio()
    return num, den


# ----------------------------------------------------------------------------- DuckDB

def _sql_sections() -> dict[str, str]:
    text = REFERENCE_SQL.read_text(encoding="utf-8")
    parts = re.split(r"^-- (setup|table: \w+)\s*$", text, flags=re.M)
    return {name.removeprefix("table: "): body.strip() for name, body in zip(parts[1::2], parts[2::2])}


def _columns_sql(types: dict[str, str]) -> str:
    return "{" + ", ".join(f"'{name}': '{dtype}'" for name, dtype in types.items()) + "}"


def _phone_sql(column: str) -> str:
    digits = f"regexp_replace({column}, '[^0-9]', '', 'g')"
    national = (f"CASE WHEN length({digits}) = 12 AND starts_with({digits}, '91') THEN substr({digits}, 3, 10) "
                f"WHEN length({digits}) = 11 AND starts_with({digits}, '0') THEN substr({digits}, 2, 10) "
                f"ELSE {digits} END")
    return f"CASE WHEN length({national}) = 10 THEN {national} END"


def duckdb_marts(folder: Path, run_date: date, incentive_rate: Decimal = DEFAULT_INCENTIVE_RATE,
                 threads: int | None = None) -> dict[str, pd.DataFrame]:
    import duckdb

    folder = Path(folder)
    sections = _sql_sections()
    con = duckdb.connect()
    try:
        if threads:
            con.execute(f"SET threads = {int(threads)}")
        num, den = _rate_fraction(incentive_rate)
        con.execute(f"SET VARIABLE run_date = DATE '{run_date.isoformat()}'")
        con.execute(f"SET VARIABLE rate_num = {num}")
        con.execute(f"SET VARIABLE rate_den = {den}")
        sales = [str(p) for p in sales_files(folder)]
        base = customer_base_file(folder)
        con.execute(f"CREATE TABLE raw_sales AS SELECT * FROM read_csv({sales!r}, header = true, "
                    f"columns = {_columns_sql(SALES_TYPES)}, dateformat = '%Y-%m-%d')")
        if base is not None:
            con.execute(f"CREATE TABLE raw_customers AS SELECT * FROM read_csv('{base}', header = true, "
                        f"columns = {_columns_sql(CUSTOMER_TYPES)}, dateformat = '%Y-%m-%d')")
        else:
            con.execute("CREATE TABLE raw_customers ("
                        + ", ".join(f"{k} {v}" for k, v in CUSTOMER_TYPES.items()) + ")")
        con.execute(f"CREATE TABLE sales_team AS SELECT id, first_name, last_name FROM read_csv("
                    f"'{folder / 'sales_team' / 'sales_team.csv'}', header = true, "
                    f"columns = {_columns_sql(TEAM_TYPES)}, dateformat = '%Y-%m-%d')")
        con.execute(f"""
            CREATE TABLE id_map AS
            SELECT customer_id, min(customer_id) OVER (PARTITION BY phone) AS canonical_id, phone
            FROM (SELECT customer_id, {_phone_sql('phone_number')} AS phone FROM raw_customers) c
            WHERE phone IS NOT NULL
            UNION ALL
            SELECT customer_id, customer_id, NULL FROM raw_customers WHERE {_phone_sql('phone_number')} IS NULL""")
        con.execute("""
            CREATE VIEW dim_customer AS
            SELECT c.customer_id, c.first_name, c.last_name, c.address, c.pincode, m.phone AS phone_number,
                   c.region, c.customer_joining_date, DATE '0001-01-01' AS valid_from,
                   DATE '9999-12-31' AS valid_to, true AS is_current
            FROM raw_customers c JOIN id_map m USING (customer_id)
            WHERE m.canonical_id = c.customer_id""")
        con.execute("""
            CREATE VIEW transactions AS
            SELECT 'store' AS channel, coalesce(m.canonical_id, s.customer_id) AS customer_id, s.store_id,
                   s.sales_person_id, s.sales_date AS transaction_date, s.total_cost AS amount,
                   s.quantity AS units, true AS is_revenue
            FROM raw_sales s LEFT JOIN id_map m USING (customer_id)""")
        con.execute(sections["setup"])
        return {mart: con.execute(sections[mart]).df() for mart in MARTS}
    finally:
        con.close()


# ----------------------------------------------------------------------------- pandas

def _half_up(numerator: pd.Series, denominator: pd.Series | int) -> pd.Series:
    """numerator / denominator rounded half away from zero, in integers (as Spark's HALF_UP)."""
    sign = np.sign(numerator) * np.sign(denominator)
    return sign * ((2 * np.abs(numerator) + np.abs(denominator)) // (2 * np.abs(denominator)))


def _money(cents: pd.Series) -> pd.Series:
    return cents / 100


def _phone(phone: pd.Series) -> pd.Series:
    digits = phone.astype("string").str.replace(r"[^0-9]", "", regex=True)
    national = digits.where(~((digits.str.len() == 12) & digits.str.startswith("91")), digits.str[2:])
    national = national.where(~((national.str.len() == 11) & national.str.startswith("0")), national.str[1:])
    return national.where(national.str.len() == 10)


def _full_name(first: pd.Series, last: pd.Series) -> pd.Series:
    name = (first.fillna("").str.cat(last.fillna(""), sep=" ")
            .where(first.notna() & last.notna(), first.fillna(last)).fillna("").str.strip())
    return name.where(name != "", "Unknown")


def pandas_marts(folder: Path, run_date: date,
                 incentive_rate: Decimal = DEFAULT_INCENTIVE_RATE) -> dict[str, pd.DataFrame]:
    folder = Path(folder)
    sales = pd.concat([pd.read_csv(f, dtype={"customer_id": "int64", "store_id": "int64", "product_name": str,
                                              "sales_date": str, "sales_person_id": "int64", "price": str,
                                              "quantity": "int64", "total_cost": str})
                       for f in sales_files(folder)], ignore_index=True)
    sales["date"] = pd.to_datetime(sales["sales_date"], format="%Y-%m-%d")
    sales["cents"] = np.rint(sales["total_cost"].astype("float64") * 100).astype("int64")
    d = pd.Timestamp(run_date)
    sales = sales[sales["date"] <= d]

    base = customer_base_file(folder)
    customers = (pd.read_csv(base, dtype=str) if base is not None
                 else pd.DataFrame(columns=list(CUSTOMER_TYPES)))
    customers["customer_id"] = customers["customer_id"].astype("int64")
    customers["phone"] = _phone(customers["phone_number"])
    customers["canonical_id"] = customers.groupby("phone")["customer_id"].transform("min")
    customers["canonical_id"] = customers["canonical_id"].fillna(customers["customer_id"]).astype("int64")
    id_map = customers.set_index("customer_id")["canonical_id"]
    sales["customer_id"] = sales["customer_id"].map(id_map).fillna(sales["customer_id"]).astype("int64")
    current = customers[customers["customer_id"] == customers["canonical_id"]].copy()
    current["full_name"] = _full_name(current["first_name"], current["last_name"])
    current = current[["customer_id", "full_name", "address", "phone", "region"]].rename(
        columns={"phone": "phone_number"})

    team = pd.read_csv(folder / "sales_team" / "sales_team.csv", dtype={"id": "int64", "first_name": str,
                                                                         "last_name": str})
    team["full_name"] = _full_name(team["first_name"], team["last_name"])

    sales["sales_month"] = sales["date"].dt.strftime("%Y-%m")
    sales["mi"] = sales["date"].dt.year * 12 + sales["date"].dt.month
    return {"customers_data_mart": _customers_mart(sales, current, run_date),
            "sales_team_data_mart": _sales_team_mart(sales, team, incentive_rate)}


def _customers_mart(sales: pd.DataFrame, current: pd.DataFrame, run_date: date) -> pd.DataFrame:
    d = pd.Timestamp(run_date)
    life = sales.groupby("customer_id").agg(clv=("cents", "sum"), frequency=("cents", "size"),
                                            first_day=("date", "min"), last_day=("date", "max"),
                                            largest=("cents", "max"), dates=("date", "nunique")).reset_index()
    life["inactive"] = (d - life["last_day"]).dt.days > 90
    n = len(life)
    rank = life["clv"].rank(method="min").astype("int64")
    premium = (n > 1) & (5 * (rank - 1) >= 4 * (n - 1))
    regular = (n > 1) & (5 * (rank - 1) >= 2 * (n - 1))
    life["customer_segment"] = np.where(life["inactive"], "At Risk",
                                        np.where(premium, "Premium", np.where(regular, "Regular", "Occasional")))
    months = run_date.year * 12 + run_date.month - (life["first_day"].dt.year * 12 + life["first_day"].dt.month) + 1
    life["monetary_value"] = _money(_half_up(life["clv"], life["frequency"]))
    life["avg_monthly_spending"] = _money(_half_up(life["clv"], months))
    span = (life["last_day"] - life["first_day"]).dt.days
    gap = _half_up(span * 100, (life["dates"] - 1).clip(lower=1))
    life["avg_time_between_purchases"] = _money(gap).where(life["dates"] >= 2)

    monthly = sales.groupby(["customer_id", "sales_month"]).agg(total=("cents", "sum"),
                                                               n=("cents", "size")).reset_index()
    mart = monthly.merge(life, on="customer_id").merge(current, on="customer_id", how="left")
    mart["full_name"] = mart["full_name"].fillna("Unknown")
    mart["total_sales"] = _money(mart["total"])
    mart["monthly_transactions"] = mart["n"]
    mart["customer_lifetime_value"] = _money(mart["clv"])
    mart["first_purchase_month"] = mart["first_day"].dt.strftime("%Y-%m")
    mart["last_purchase_month"] = mart["last_day"].dt.strftime("%Y-%m")
    mart["purchase_frequency"] = mart["frequency"]
    mart["max_single_transaction"] = _money(mart["largest"])
    mart["inactive_status"] = mart["inactive"]
    return mart.sort_values(["customer_id", "sales_month"])[CUSTOMERS_COLUMNS].reset_index(drop=True)


def _sales_team_mart(sales: pd.DataFrame, team: pd.DataFrame, incentive_rate: Decimal) -> pd.DataFrame:
    keys = ["store_id", "sales_person_id"]
    m = sales.groupby(keys + ["mi", "sales_month"]).agg(total=("cents", "sum"), n=("cents", "size"),
                                                       largest=("cents", "max")).reset_index()
    m = m.sort_values(keys + ["mi"]).reset_index(drop=True)
    m["yr"] = (m["mi"] - 1) // 12
    m["position"] = m.groupby(["store_id", "mi"])["total"].rank(method="min", ascending=False).astype("int64")
    m["store_total"] = m.groupby(["store_id", "mi"])["total"].transform("sum")
    person = m.groupby(keys)
    m["running_total"] = person["total"].cumsum()
    m["running_months"] = person.cumcount() + 1
    m["ytd"] = m.groupby(keys + ["yr"])["total"].cumsum()
    m["first_sale_month"] = person["sales_month"].transform("min")
    m["last_sale_month"] = person["sales_month"].transform("max")
    previous = m[keys + ["mi", "total"]].rename(columns={"total": "previous"})
    previous["mi"] += 1
    m = m.merge(previous, on=keys + ["mi"], how="left")
    m = m.merge(team[["id", "full_name"]], left_on="sales_person_id", right_on="id", how="left")
    m["full_name"] = m["full_name"].fillna("Unknown")

    num, den = _rate_fraction(incentive_rate)
    has_previous = m["previous"].notna()
    prev = m["previous"].fillna(1).astype("int64")
    diff = m["total"] - prev
    growth = _half_up(diff * 10_000, prev)
    out = pd.DataFrame({
        "store_id": m["store_id"], "sales_person_id": m["sales_person_id"], "full_name": m["full_name"],
        "sales_month": m["sales_month"], "total_sales": _money(m["total"]), "total_transactions": m["n"],
        "avg_transaction_value": _money(_half_up(m["total"], m["n"])),
        "max_single_transaction": _money(m["largest"]),
        "avg_sales_per_month": _money(_half_up(m["running_total"], m["running_months"])),
        "top_performance_rank": m["position"],
        "incentive": _money(np.where(m["position"] == 1, _half_up(m["total"] * num, den), 0)),
        "month_over_month_variance": _money(diff).where(has_previous),
        "sales_growth_rate": _money(growth).where(has_previous & (growth.abs() < 10 ** 9)),
        "year_to_date_sales": _money(m["ytd"]),
        "first_sale_month": m["first_sale_month"], "last_sale_month": m["last_sale_month"],
        "sales_contribution_percentage": _money(_half_up(m["total"] * 10_000, m["store_total"])),
    })
    return out.sort_values(keys + ["sales_month"])[SALES_TEAM_COLUMNS].reset_index(drop=True)


# ----------------------------------------------------------------------------- comparison

def canonical_rows(frame: pd.DataFrame, kinds: dict[str, str]) -> list[tuple]:
    """Every row as a tuple of text (money to 2 places, ints, booleans, strings, None), sorted.

    ``kinds``: column -> Spark type name from the gold registry (decimal(18,2), int, ...).
    """
    def cell(value, kind: str):
        if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA or value is pd.NaT:
            return None
        if kind.startswith("decimal"):
            return f"{Decimal(str(value)):.2f}"
        if kind in ("int", "bigint"):
            return str(int(value))
        if kind == "boolean":
            return str(bool(value)).lower()
        return str(value)

    columns = list(kinds)
    rows = [tuple(cell(v, kinds[c]) for c, v in zip(columns, values))
            for values in frame[columns].itertuples(index=False, name=None)]
    return sorted(rows, key=lambda r: tuple("" if v is None else v for v in r))


def differences(expected: pd.DataFrame, actual: pd.DataFrame, kinds: dict[str, str], limit: int = 5) -> list[str]:
    """Rows in one frame and not the other (as text), at most ``limit`` of each; empty when equal."""
    left, right = canonical_rows(expected, kinds), canonical_rows(actual, kinds)
    if left == right:
        return []
    only_left = sorted(set(left) - set(right))
    only_right = sorted(set(right) - set(left))
    out = [f"rows: gold {len(left)}, peer {len(right)}"]
    out += [f"only in gold: {r}" for r in only_left[:limit]]
    out += [f"only in peer: {r}" for r in only_right[:limit]]
    return out


# ----------------------------------------------------------------------------- as a process

def main(argv: list[str] | None = None) -> int:
    """``python benchmarks/peers.py duckdb|pandas --folder DIR --date D --out OUT``: one peer as a whole process.

    Writes ``OUT/<mart>.parquet`` and prints one JSON line with the compute time (reading the
    CSVs included, writing the result excluded), so benchmarks/run.py can time and sample it
    as it does ``etl run``.
    """
    import argparse
    import json
    import time

    parser = argparse.ArgumentParser(description=main.__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("peer", choices=["duckdb", "pandas"])
    parser.add_argument("--folder", type=Path, required=True)
    parser.add_argument("--date", type=date.fromisoformat, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--incentive-rate", type=Decimal, default=DEFAULT_INCENTIVE_RATE)
    args = parser.parse_args(argv)
    started = time.monotonic()
    compute = duckdb_marts if args.peer == "duckdb" else pandas_marts
    marts = compute(args.folder, args.date, args.incentive_rate)
    compute_s = time.monotonic() - started
    args.out.mkdir(parents=True, exist_ok=True)
    for name, frame in marts.items():
        frame.to_parquet(args.out / f"{name}.parquet", index=False)
    print(json.dumps({"peer": args.peer, "compute_s": round(compute_s, 3),
                      "rows": {name: len(frame) for name, frame in marts.items()}}))
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main())
