"""Reference feeds (``stores/``, ``products/``, ``sales_team/``): small CSVs, full snapshots."""

from pyspark.sql.types import DateType, DecimalType, IntegerType, StringType

# feed -> {column: type in silver}; the columns a file must have are the non-optional ones.
COLUMNS = {
    "stores": {"id": IntegerType(), "address": StringType(), "store_pincode": StringType(),
               "store_manager_name": StringType(), "store_opening_date": DateType(),
               "reviews": StringType(), "external_ref": StringType(), "region": StringType()},
    "products": {"id": IntegerType(), "name": StringType(), "sku_id": StringType(),
                 "category": StringType(), "current_price": DecimalType(18, 2),
                 "old_price": DecimalType(18, 2), "created_date": DateType(),
                 "updated_date": DateType(), "expiry_date": DateType()},
    "sales_team": {"id": IntegerType(), "first_name": StringType(), "last_name": StringType(),
                   "manager_id": IntegerType(), "is_manager": StringType(), "address": StringType(),
                   "pincode": StringType(), "joining_date": DateType()},
}
OPTIONAL = {"stores": ("external_ref", "region"), "products": (), "sales_team": ()}


def mandatory(feed: str) -> tuple[str, ...]:
    return tuple(c for c in COLUMNS[feed] if c not in OPTIONAL[feed])
