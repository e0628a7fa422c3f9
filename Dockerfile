# One image for every R2D2 role: Spark master/worker (from the pyspark distribution), API, scheduler.
FROM python:3.11-slim-bookworm

RUN apt-get update \
 && apt-get install -y --no-install-recommends openjdk-17-jre-headless procps tini \
 && rm -rf /var/lib/apt/lists/*

ENV JAVA_HOME=/usr/lib/jvm/java-17-openjdk-amd64 \
    PYTHONUNBUFFERED=1 \
    R2D2_HOME=/var/lib/r2d2 \
    SPARK_LOCAL_IP=0.0.0.0

WORKDIR /opt/r2d2
COPY pyproject.toml requirements.lock README.md ./
COPY r2d2 ./r2d2
COPY api ./api
COPY jobs ./jobs
RUN pip install --no-cache-dir -c requirements.lock . \
 && python -m r2d2.containment.kernels \
 && python -c "import pyspark, os; print(os.path.dirname(pyspark.__file__))" > /opt/spark-home
ENV PYSPARK_PYTHON=/usr/local/bin/python

COPY deploy/ /opt/r2d2/deploy/
ENTRYPOINT ["/usr/bin/tini", "--", "/opt/r2d2/deploy/entrypoint.sh"]
CMD ["api"]
