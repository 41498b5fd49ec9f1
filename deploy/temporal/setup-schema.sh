#!/bin/sh
# Run in temporalio/admin-tools: create Temporal's two PostgreSQL databases and bring their schemas up to
# date. Safe to run again: existing databases are kept and update-schema applies only missing versions.
set -eu
schema=/etc/temporal/schema/postgresql/v12
sql() { temporal-sql-tool --plugin postgres12 --ep postgresql -p 5432 -u "$POSTGRES_USER" -pw "$POSTGRES_PWD" "$@"; }
for db in temporal temporal_visibility; do
  dir=temporal
  [ "$db" = temporal_visibility ] && dir=visibility
  sql --db "$db" create-database 2>/dev/null || true # already there
  sql --db "$db" setup-schema -v 0.0 2>/dev/null || true # the version table exists already
  sql --db "$db" update-schema -d "$schema/$dir/versioned"
done
echo "temporal schemas are up to date"
