#!/bin/sh
# Nightly runner for the `scheduled` compose profile (service etl-scheduler).
#
# Sleeps until the next ETL_SCHEDULE_AT (HH:MM, UTC, default 02:00), then runs
# the daily job for the previous UTC day with the same spark-submit line as the
# one-shot etl-job service. A failed run is logged and the loop goes on to the
# next night; the container itself only stops when asked to.
set -u

AT="${ETL_SCHEDULE_AT:-02:00}"
MASTER="${ETL_SPARK_MASTER:-spark://spark-master:7077}"

case "$AT" in
  [01][0-9]:[0-5][0-9] | 2[0-3]:[0-5][0-9]) ;;
  *) echo "etl-scheduler: ETL_SCHEDULE_AT must be HH:MM (UTC), got '$AT'" >&2; exit 2 ;;
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

run_day() {
  day="$1"
  echo "etl-scheduler: $(date -u +%FT%TZ) starting run for $day"
  spark-submit --master "$MASTER" --jars "$ETL_SPARK_JARS" \
    jobs/daily_etl.py --profile docker --date "$day"
  rc=$?
  if [ "$rc" -eq 0 ]; then
    echo "etl-scheduler: $(date -u +%FT%TZ) run for $day succeeded"
  else
    echo "etl-scheduler: $(date -u +%FT%TZ) run for $day FAILED (exit $rc)" >&2
  fi
  return "$rc"
}

if [ "${1:-}" = "--once" ]; then
  # Manual catch-up: etl-scheduler.sh --once [YYYY-MM-DD] (default: yesterday UTC).
  run_day "${2:-$(date -u -d yesterday +%F)}"
  exit $?
fi

while :; do
  wait_s=$(seconds_until_next_run)
  echo "etl-scheduler: next run at $(date -u -d "@$(( $(date -u +%s) + wait_s ))" +%FT%TZ) (in ${wait_s}s)"
  sleep "$wait_s"
  run_day "$(date -u -d yesterday +%F)" || true
  # Never fire twice in the same minute.
  sleep 61
done
