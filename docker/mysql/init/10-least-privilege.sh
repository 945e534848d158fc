#!/bin/bash
# Sourced by the mysql image's entrypoint on the first start, after it created MYSQL_USER with
# ALL PRIVILEGES on MYSQL_DATABASE: narrow that to what the export uses, on the gold schema only
# (the same list as MYSQL_APP_PRIVILEGES in etl/services.py; docs/security.md).
docker_process_sql --database=mysql <<SQL
REVOKE ALL PRIVILEGES ON \`${MYSQL_DATABASE}\`.* FROM '${MYSQL_USER}'@'%';
GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, ALTER, INDEX, CREATE VIEW ON \`${MYSQL_DATABASE}\`.* TO '${MYSQL_USER}'@'%';
SQL
