# One image for every R2D2 role: Spark master/worker (from the pyspark distribution), API, scheduler.
FROM python:3.11-slim-bookworm

RUN apt-get update \
 && apt-get install -y --no-install-recommends openjdk-17-jre-headless procps tini maven \
 && rm -rf /var/lib/apt/lists/*

ENV JAVA_HOME=/usr/lib/jvm/java-17-openjdk-amd64 \
    PYTHONUNBUFFERED=1 \
    R2D2_HOME=/var/lib/r2d2 \
    R2D2_SPARK_JARS_DIR=/opt/r2d2/jars \
    SPARK_LOCAL_IP=0.0.0.0

WORKDIR /opt/r2d2
# Spark jars (delta-spark, hadoop-aws + AWS SDK): fetched from Maven Central at build time, the same
# list as `make jars`; on every container's class path through spark-defaults.conf (below).
COPY deploy/spark-jars.pom.xml deploy/spark-jars.pom.xml
RUN mvn -B -q --no-transfer-progress -f deploy/spark-jars.pom.xml dependency:copy -Djars.dir=/opt/r2d2/jars \
 && rm -rf /root/.m2
COPY pyproject.toml requirements.lock README.md ./
COPY r2d2 ./r2d2
COPY api ./api
COPY jobs ./jobs
RUN pip install --no-cache-dir -c requirements.lock . \
 && python -m r2d2.containment.kernels \
 && python -c "import pyspark, os; print(os.path.dirname(pyspark.__file__))" > /opt/spark-home \
 && mkdir -p "$(cat /opt/spark-home)/conf" \
 && printf '%s\n' \
    'spark.driver.extraClassPath /opt/r2d2/jars/*' \
    'spark.executor.extraClassPath /opt/r2d2/jars/*' \
    'spark.sql.extensions io.delta.sql.DeltaSparkSessionExtension' \
    'spark.sql.catalog.spark_catalog org.apache.spark.sql.delta.catalog.DeltaCatalog' \
    > "$(cat /opt/spark-home)/conf/spark-defaults.conf"
ENV PYSPARK_PYTHON=/usr/local/bin/python

COPY deploy/ /opt/r2d2/deploy/
ENTRYPOINT ["/usr/bin/tini", "--", "/opt/r2d2/deploy/entrypoint.sh"]
CMD ["api"]
