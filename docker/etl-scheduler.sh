#!/bin/sh
# Nightly runner for the `scheduled` compose profile (service etl-scheduler).
#
# Sleeps until the next ETL_SCHEDULE_AT (HH:MM, UTC, default 02:00), then runs
# the daily job for the previous UTC day with the same spark-submit line as the
# one-shot etl-job service. A failed run is logged with what its exit code means
# and the loop goes on to the next night; the container itself only stops when
# asked to. On ETL_MAINTAIN_WEEKDAY (1-7, Monday=1, default 7; empty: never) the
# night's run is followed by lake maintenance (jobs/maintain.py: OPTIMIZE, then
# VACUUM keeping ops.time_travel_days of time travel).
set -u

AT="${ETL_SCHEDULE_AT:-02:00}"
MASTER="${ETL_SPARK_MASTER:-spark://spark-master:7077}"
MAINTAIN_DAY="${ETL_MAINTAIN_WEEKDAY-7}"

case "$AT" in
  [01][0-9]:[0-5][0-9] | 2[0-3]:[0-5][0-9]) ;;
  *) echo "etl-scheduler: ETL_SCHEDULE_AT must be HH:MM (UTC), got '$AT'" >&2; exit 2 ;;
esac
case "$MAINTAIN_DAY" in
  "" | [1-7]) ;;
  *) echo "etl-scheduler: ETL_MAINTAIN_WEEKDAY must be 1-7 (Monday=1) or empty, got '$MAINTAIN_DAY'" >&2; exit 2 ;;
esac
: "${ETL_SPARK_JARS:?ETL_SPARK_JARS is set by the image}"

# Seconds from now until the next HH:MM UTC (today if still ahead, else tomorrow).
seconds_until_next_run() {
  now=$(date -u +%s)
  next=$(date -u -d "today $AT" +%s)
  if [ "$next" -le "$now" ]; then
    next=$(date -u -d "tomorrow $AT" +%s)
  fi
  echo $((next - now))
}

# What an exit code of the job means (docs/operations-maintenance.md).
meaning() {
  case "$1" in
    1) echo "unexpected failure: see the log above; rerun the same date" ;;
    3) echo "configuration or credential error: fix the key or secret named above, then rerun" ;;
    4) echo "data-quality threshold exceeded: gold untouched; see the quarantine tables" ;;
    5) echo "another run holds the lock: nothing done, the other run does the work" ;;
    *) echo "see docs/operations-maintenance.md" ;;
  esac
}

maintain() {
  echo "etl-scheduler: $(date -u +%FT%TZ) starting lake maintenance"
  spark-submit --master "$MASTER" --jars "$ETL_SPARK_JARS" jobs/maintain.py --profile docker
  rc=$?
  [ "$rc" -eq 0 ] || echo "etl-scheduler: $(date -u +%FT%TZ) maintenance FAILED (exit $rc)" >&2
  return "$rc"
}

run_day() {
  day="$1"
  echo "etl-scheduler: $(date -u +%FT%TZ) starting run for $day"
  spark-submit --master "$MASTER" --jars "$ETL_SPARK_JARS" \
    jobs/daily_etl.py --profile docker --date "$day"
  rc=$?
  if [ "$rc" -eq 0 ]; then
    echo "etl-scheduler: $(date -u +%FT%TZ) run for $day succeeded"
  else
    echo "etl-scheduler: $(date -u +%FT%TZ) run for $day FAILED (exit $rc: $(meaning "$rc"))" >&2
  fi
  return "$rc"
}

if [ "${1:-}" = "--once" ]; then
  # Manual catch-up: etl-scheduler.sh --once [YYYY-MM-DD] (default: yesterday UTC).
  run_day "${2:-$(date -u -d yesterday +%F)}"
  exit $?
fi
if [ "${1:-}" = "--maintain" ]; then
  # Manual maintenance: etl-scheduler.sh --maintain
  maintain
  exit $?
fi

while :; do
  wait_s=$(seconds_until_next_run)
  echo "etl-scheduler: next run at $(date -u -d "@$(( $(date -u +%s) + wait_s ))" +%FT%TZ) (in ${wait_s}s)"
  sleep "$wait_s"
  run_day "$(date -u -d yesterday +%F)" || true
  if [ -n "$MAINTAIN_DAY" ] && [ "$(date -u +%u)" = "$MAINTAIN_DAY" ]; then
    maintain || true
  fi
  # Never fire twice in the same minute.
  sleep 61
done
