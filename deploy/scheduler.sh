#!/bin/sh
# A minimal scheduler: every R2D2_SCHEDULE_SECONDS (default 6 h) scan -> detect (spark-submit jobs) -> check
# (drift: restore children whose parent changed), then purge what has been quarantined longer than
# R2D2_PURGE_AFTER (default 7d). Production sites use cron or Airflow with the same commands (README,
# "Batch jobs"). R2D2_SCHEDULER_ONCE=1 runs one round and exits with its status (used by the tests).
# Lake roots come from R2D2_LAKE_ROOTS as R2D2 reads it (JSON list or comma-separated).
set -u
SPARK_HOME="${SPARK_HOME:-$(cat /opt/spark-home 2>/dev/null)}"
SPARK_SUBMIT="${R2D2_SPARK_SUBMIT:-$SPARK_HOME/bin/spark-submit}"
JOBS="${R2D2_JOBS_DIR:-/opt/r2d2/jobs}"
PYTHON="${R2D2_PYTHON:-python}"
R2D2="${R2D2_CLI:-r2d2}"

round() {
  roots="$("$PYTHON" -c 'from r2d2.config import load_settings; print("\n".join(load_settings().lake_roots))')" \
    || return 3
  master=""
  [ -n "${R2D2_SPARK_MASTER:-}" ] && master="--master ${R2D2_SPARK_MASTER}"
  # one root per line: paths with spaces stay whole
  set --
  while IFS= read -r root; do [ -n "$root" ] && set -- "$@" "$root"; done <<ROOTS
$roots
ROOTS
  # shellcheck disable=SC2086
  "$SPARK_SUBMIT" $master "$JOBS/scan.py" "$@" || return $?
  # shellcheck disable=SC2086
  "$SPARK_SUBMIT" $master "$JOBS/detect.py" || return $?
  "$R2D2" check || return $?
  "$R2D2" purge --older-than "${R2D2_PURGE_AFTER:-7d}" --yes || return $?
}

while true; do
  round
  status=$?
  [ "$status" -ne 0 ] && echo "r2d2 scheduled round failed (exit $status)" >&2
  [ "${R2D2_SCHEDULER_ONCE:-0}" = "1" ] && exit "$status"
  sleep "${R2D2_SCHEDULE_SECONDS:-21600}"
done
