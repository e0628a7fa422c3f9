"""The user's Spark settings win: under spark-submit every --conf stays; R2D2's defaults go only on a
session it builds itself, and only the settings its results depend on are set on its session."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from r2d2.config import load_settings
from r2d2.engine.spark import GCS_CONNECTOR_CONF, REQUIRED_CONF, wanted_conf

BIN = Path(sys.executable).parent

SCRIPT = """
from r2d2.config import load_settings
from r2d2.engine import get_spark
spark = get_spark(load_settings())
keys = ["spark.sql.shuffle.partitions", "spark.sql.adaptive.enabled", "spark.sql.session.timeZone"]
print("CONF", *[spark.conf.get(k) for k in keys])
spark.stop()
"""


def test_spark_submit_conf_stays(tmp_path: Path) -> None:
    script = tmp_path / "conf_job.py"
    script.write_text(SCRIPT)
    env = {k: v for k, v in os.environ.items() if not k.startswith("R2D2_")}
    env.update(PYSPARK_PYTHON=sys.executable, PYSPARK_DRIVER_PYTHON=sys.executable, SPARK_LOCAL_IP="127.0.0.1",
               R2D2_HOME=str(tmp_path / "home"))
    out = subprocess.run([str(BIN / "spark-submit"), "--master", "local[1]",
                          "--conf", "spark.sql.shuffle.partitions=64", "--conf", "spark.sql.adaptive.enabled=false",
                          "--conf", "spark.ui.enabled=false", str(script)],
                         env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    line = next(x for x in out.stdout.splitlines() if x.startswith("CONF"))
    assert line.split()[1:] == ["64", "false", "UTC"]


def test_defaults_only_on_a_session_r2d2_builds() -> None:
    settings = load_settings(spark_master="local[2]")
    own = wanted_conf(settings, "local[2]")
    assert own["spark.sql.shuffle.partitions"] == "8" and own["spark.driver.memory"] == "4g"
    # gs:// through the GCS connector `make jars` fetches, on R2D2's own session; a user's setting wins
    assert own["spark.hadoop.fs.gs.impl"] == GCS_CONNECTOR_CONF["fs.gs.impl"]
    assert own["spark.hadoop.fs.gs.block.size"] == str(64 << 20)
    mine = wanted_conf(load_settings(spark_conf={"spark.hadoop.fs.gs.block.size": "1048576"}), "local[2]")
    assert mine["spark.hadoop.fs.gs.block.size"] == "1048576"
    theirs = wanted_conf(settings, None, own=False)
    assert "spark.sql.shuffle.partitions" not in theirs and "spark.driver.memory" not in theirs
    assert "spark.driver.extraClassPath" not in theirs
    assert all(theirs[k] == v for k, v in REQUIRED_CONF.items())
    explicit = wanted_conf(load_settings(spark_shuffle_partitions=32), None, own=False)
    assert explicit["spark.sql.shuffle.partitions"] == "32"
