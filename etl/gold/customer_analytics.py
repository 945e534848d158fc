"""Order analytics about customers and baskets: RFM segments, items bought together, cohorts."""

from __future__ import annotations

from datetime import date

from pyspark.sql import DataFrame

from etl.gold.common import empty_frame

# Skeleton: the tables are defined in etl/gold/marts.py; their functions are filled in next.


def customer_rfm(transactions: DataFrame, dim_customer: DataFrame, run_date: date) -> DataFrame:
    return empty_frame(transactions, "customer_id int, customer_name string, last_purchase_date date, "
                       "recency_days int, frequency int, monetary decimal(18,2), r_score int, f_score int, "
                       "m_score int, rfm_segment string")


def kpi_basket_pairs_90d(sales_lines: DataFrame, products: DataFrame, run_date: date) -> DataFrame:
    return empty_frame(sales_lines, "product_id_a int, product_name_a string, product_id_b int, "
                       "product_name_b string, orders_with_both int, support decimal(9,4), "
                       "confidence_a_to_b decimal(9,4), confidence_b_to_a decimal(9,4), lift decimal(9,4), "
                       "lift_rank int")


def kpi_cohort_retention(customer_month: DataFrame, run_date: date) -> DataFrame:
    return empty_frame(customer_month, "cohort_month string, month_offset int, sales_month string, "
                       "cohort_size int, active_customers int, retention_pct decimal(9,2)")
