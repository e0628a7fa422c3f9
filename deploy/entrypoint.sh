#!/bin/sh
# Roles: master | worker | api | scheduler | any other command.
set -eu
SPARK_HOME="$(cat /opt/spark-home)"
export SPARK_HOME
case "${1:-api}" in
  master)
    exec "$SPARK_HOME/bin/spark-class" org.apache.spark.deploy.master.Master --host 0.0.0.0 --port 7077 --webui-port 8080 ;;
  worker)
    exec "$SPARK_HOME/bin/spark-class" org.apache.spark.deploy.worker.Worker "${SPARK_MASTER_URL:-spark://spark-master:7077}" \
      --work-dir /tmp/spark-work --cores "${SPARK_WORKER_CORES:-2}" --memory "${SPARK_WORKER_MEMORY:-4g}" ;;
  api)
    exec r2d2 serve --host 0.0.0.0 --port 8000 ;;
  scheduler)
    exec /opt/r2d2/deploy/scheduler.sh ;;
  *)
    exec "$@" ;;
esac
