"""A Spark JVM that exits mid-run (killed, out of memory) is started again by the next ``get_spark``:
the batch that failed with it is bisected and retried on the new session, not every remaining batch
failed one by one; a JVM that keeps exiting is not started for ever.

Runs in a child process with its own session (the suite's one session must not be killed)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SCRIPT = """
import os, signal, sys, threading
from r2d2.config import load_settings
from r2d2.engine import spark as engine
from r2d2.engine.items import ItemFailure, map_spark_isolating
from r2d2.engine.prestart import Prestarted

engine.RESTARTS = 2
settings = load_settings(spark_master="local[1]", spark_driver_memory="1g")
flag = sys.argv[1]  # the JVM is killed from inside a job only once
calls = []

def factory():
    calls.append(1)
    return engine.get_spark(settings)

def kill(session):
    proc = session.sparkContext._gateway.proc
    os.kill(proc.pid, signal.SIGKILL)  # the JVM this process started
    proc.wait()

def double(x):
    return 2 * x

prestarted = Prestarted(factory)
first = prestarted()
assert map_spark_isolating(prestarted, [1, 2, 3], double, weights=[1] * 3, weight_per_task=1) == [2, 4, 6]

# between jobs: the next one gets a new session
kill(first)
assert engine.jvm_exit_code(first) is not None
out = map_spark_isolating(prestarted, list(range(8)), double, weights=[1] * 8, weight_per_task=1)
second = prestarted()
print("BETWEEN", out == [2 * x for x in range(8)], second is not first, second.range(5).count())
print("ACCUMULATOR_SERVERS", len([t for t in threading.enumerate() if "serve_forever" in t.name]))

# during a job: it fails, its halves run on a new session
jvm = second.sparkContext._gateway.proc.pid

def dies_once(x):
    if x == 5 and not os.path.exists(flag):
        open(flag, "w").close()
        os.kill(jvm, signal.SIGKILL)
    return 2 * x

before = len(calls)
out = map_spark_isolating(prestarted, list(range(8)), dies_once, weights=[1] * 8, weight_per_task=1)
third = prestarted()
print("DURING", out == [2 * x for x in range(8)], third is not second, len(calls) - before)

# a JVM that keeps exiting is not started again
kill(third)
out = map_spark_isolating(prestarted, list(range(4)), double, weights=[1] * 4, weight_per_task=1)
print("GAVE_UP", all(isinstance(o, ItemFailure) for o in out), out[0].message)
"""


def test_exited_jvm_is_started_again_and_its_batch_retried(tmp_path: Path) -> None:
    script = tmp_path / "restart.py"
    script.write_text(SCRIPT)
    env = {k: v for k, v in os.environ.items() if not k.startswith("R2D2_")}
    env.update(PYSPARK_PYTHON=sys.executable, SPARK_LOCAL_IP="127.0.0.1", R2D2_HOME=str(tmp_path / "home"))
    done = subprocess.run([sys.executable, str(script), str(tmp_path / "killed")], env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = {line.split()[0]: line.split(maxsplit=1)[1] for line in done.stdout.splitlines() if line.strip()}
    assert lines["BETWEEN"] == "True True 5", done.stdout  # every item computed, on a new session
    assert lines["ACCUMULATOR_SERVERS"] == "1"  # the dead session's server thread was stopped
    computed, new, factory_calls = lines["DURING"].split()
    # the job the JVM died in was bisected: its parts ran on a new session, every item computed
    assert (computed, new) == ("True", "True") and int(factory_calls) >= 3, done.stdout
    assert (tmp_path / "killed").exists()
    gave_up, message = lines["GAVE_UP"].split(maxsplit=1)
    assert gave_up == "True"
    assert "Spark's JVM exited" in message and "started again 2 times" in message, message
    assert "starting a new session (2 of at most 2" in done.stderr
