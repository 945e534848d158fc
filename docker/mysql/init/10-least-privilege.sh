#!/bin/bash
# Sourced by the mysql image's entrypoint on the first start, after it created MYSQL_USER with
# ALL PRIVILEGES on MYSQL_DATABASE. Replaces that with what etl/export/mysql.py account_grants gives
# (docs/security.md, "MySQL accounts"): the loader gets each gold table (with its __staging and
# __retired names) and etl_gold_loaded, and only SELECT, INSERT, UPDATE, CREATE on the audit tables,
# so it can never drop them; the consumers' read-only account gets SELECT on the gold tables.
# The lists below are checked against etl/ by tests/test_docker_stack.py. Passwords reach the server
# on stdin, never on a command line.
GOLD_TABLES="sales_team_data_mart customers_data_mart kpi_repeat_customers kpi_regional_revenue kpi_monthly_order_trends kpi_top_customers_30d kpi_product_sales_30d kpi_daily_sales alerts"
AUDIT_TABLES="etl_runs etl_run_records schema_migrations"
LOADER_PRIVILEGES="SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, ALTER, INDEX"
AUDIT_PRIVILEGES="SELECT, INSERT, UPDATE, CREATE"

# The tables first (every migration is CREATE TABLE IF NOT EXISTS; the loader records them on its
# first export): a grant of SELECT alone needs its table to exist.
for migration in /etl-sql/V*__*.sql; do
  docker_process_sql --database="$MYSQL_DATABASE" < "$migration"
done

quote() { local v=${1//\\/\\\\}; printf "'%s'" "${v//\'/\'\'}"; }
db="\`${MYSQL_DATABASE}\`"
loader="'${MYSQL_USER}'@'%'"
reader="'${MYSQL_READER_USER}'@'%'"
{
  echo "REVOKE ALL PRIVILEGES, GRANT OPTION FROM ${loader};"
  echo "CREATE USER IF NOT EXISTS ${reader} IDENTIFIED BY $(quote "$MYSQL_READER_PASSWORD");"
  for table in $GOLD_TABLES etl_gold_loaded; do
    for name in "$table" "${table}__staging" "${table}__retired"; do
      echo "GRANT ${LOADER_PRIVILEGES} ON ${db}.\`${name}\` TO ${loader};"
    done
  done
  for table in $AUDIT_TABLES; do
    echo "GRANT ${AUDIT_PRIVILEGES} ON ${db}.\`${table}\` TO ${loader};"
  done
  for table in $GOLD_TABLES; do
    echo "GRANT SELECT ON ${db}.\`${table}\` TO ${reader};"
  done
} | docker_process_sql --database=mysql
