#!/bin/sh
# Creates Temporal's two PostgreSQL databases and brings their schemas to the
# version the server image expects. Safe to run again.
set -eu
until nc -z -w 5 "$POSTGRES_SEEDS" "$DB_PORT"; do echo 'waiting for PostgreSQL'; sleep 2; done
for db in temporal temporal_visibility; do
  case "$db" in
    temporal) schema=temporal ;;
    *) schema=visibility ;;
  esac
  temporal-sql-tool --plugin "$DB" --ep "$POSTGRES_SEEDS" -u "$POSTGRES_USER" -p "$DB_PORT" --db "$db" create-database
  temporal-sql-tool --plugin "$DB" --ep "$POSTGRES_SEEDS" -u "$POSTGRES_USER" -p "$DB_PORT" --db "$db" setup-schema -v 0.0
  temporal-sql-tool --plugin "$DB" --ep "$POSTGRES_SEEDS" -u "$POSTGRES_USER" -p "$DB_PORT" --db "$db" \
    update-schema -d "/etc/temporal/schema/postgresql/v12/$schema/versioned"
done
echo 'Temporal schemas ready'
