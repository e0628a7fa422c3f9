#!/bin/sh
# A minimal scheduler: scan + detect every R2D2_SCHEDULE_SECONDS (default 6 h) through spark-submit.
# Production sites use cron or Airflow with the same commands (see README, "Batch jobs").
set -u
SPARK_HOME="$(cat /opt/spark-home)"
while true; do
  "$SPARK_HOME/bin/spark-submit" --master "${R2D2_SPARK_MASTER}" /opt/r2d2/jobs/scan.py ${R2D2_LAKE_ROOTS} \
    && "$SPARK_HOME/bin/spark-submit" --master "${R2D2_SPARK_MASTER}" /opt/r2d2/jobs/detect.py \
    || echo "r2d2 scheduled run failed (exit $?)" >&2
  sleep "${R2D2_SCHEDULE_SECONDS:-21600}"
done
