#!/bin/bash
# Sourced by the mysql image's entrypoint on the first start, after it created MYSQL_USER with
# ALL PRIVILEGES on MYSQL_DATABASE (docs/security.md, "MySQL accounts"):
#  1. the schema, as root: every migration of resources/sql, each recorded in schema_migrations as the
#     export's apply_migrations would (a migration may rename what the loader may not touch: V005's
#     etl_runs), so the loader finds nothing to apply;
#  2. the accounts: the loader's rights replaced by those of etl/export/mysql.py account_grants (each gold
#     table with its __staging and __retired names, the histories, etl_gold_loaded; only SELECT, INSERT,
#     UPDATE, CREATE on the audit tables, so it can never drop them) and the consumers' read-only account
#     (SELECT on the gold tables, their histories and views). The statements are /etl-grants.sql, written
#     from the migrations by `python -m etl.export.mysql --grants-template docker/mysql/account-grants.sql`
#     (tests/test_docker_stack.py fails when it is out of date). Passwords reach the server on stdin,
#     never on a command line.
# (ETL_SQL_DIR and ETL_GRANTS_FILE only for tests/integration/test_least_privilege.py, which runs this
# script against the real MariaDB; the compose file mounts the two at their defaults.)
SQL_DIR=${ETL_SQL_DIR:-/etl-sql}
GRANTS_FILE=${ETL_GRANTS_FILE:-/etl-grants.sql}
SCHEMA_MIGRATIONS_DDL="CREATE TABLE IF NOT EXISTS schema_migrations (version VARCHAR(32) PRIMARY KEY, applied_at DATETIME(3) NOT NULL) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"

docker_process_sql --database="$MYSQL_DATABASE" <<< "${SCHEMA_MIGRATIONS_DDL};"
for migration in "$SQL_DIR"/V*__*.sql; do
  version=${migration##*/}
  version=${version%%__*}
  { cat "$migration"; echo; echo "INSERT INTO schema_migrations VALUES ('${version}', UTC_TIMESTAMP(3));"; } \
    | docker_process_sql --database="$MYSQL_DATABASE"
done

quote() { local v=${1//\\/\\\\}; printf "'%s'" "${v//\'/\'\'}"; }
loader="'${MYSQL_USER}'@'%'"
reader="'${MYSQL_READER_USER}'@'%'"
{
  echo "REVOKE ALL PRIVILEGES, GRANT OPTION FROM ${loader};"
  echo "CREATE USER IF NOT EXISTS ${reader} IDENTIFIED BY $(quote "$MYSQL_READER_PASSWORD");"
  while IFS= read -r line; do
    case "$line" in GRANT*) ;; *) continue ;; esac
    line=${line//@DATABASE@/$MYSQL_DATABASE}
    line=${line//@LOADER@/$loader}
    echo "${line//@READER@/$reader}"
  done < "$GRANTS_FILE"
} | docker_process_sql --database=mysql
