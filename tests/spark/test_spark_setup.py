"""`--engine` on the command line: an unknown engine and a missing PySpark stop the run with a
diagnostic saying what to do, before anything is written; so does a chunk size for the Spark
reading that is not a number of bytes."""

from __future__ import annotations

import sys

import pytest

from typer.testing import CliRunner

from cli.main import app
from engine.base.diagnostics import DiagnosticError
from nightly_inputs import RULES, STRATEGIES

runner = CliRunner()


def _run(night_inputs, tmp_path, *extra):
    return runner.invoke(app, ["run", "--data", str(night_inputs.data), "--as-of", night_inputs.as_of.isoformat(),
                               "--db", f"sqlite:///{tmp_path / 'x.db'}", "--out", str(tmp_path / "out"),
                               "--rules", str(RULES), "--strategies", str(STRATEGIES), *extra])


def test_an_unknown_engine_is_refused_before_anything_is_written(night_inputs, tmp_path):
    result = _run(night_inputs, tmp_path, "--engine", "flink")
    assert result.exit_code != 0
    assert "RN004" in result.output and "unknown engine 'flink'" in result.output
    assert not (tmp_path / "x.db").exists() and not (tmp_path / "out").exists()


def test_without_pyspark_the_spark_engine_says_how_to_install_it(night_inputs, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pyspark", None)  # what `import pyspark` meets where it is not installed
    result = _run(night_inputs, tmp_path, "--engine", "spark")
    assert result.exit_code != 0
    assert "SP001" in result.output and "pip install -e '.[spark]'" in result.output
    assert not (tmp_path / "x.db").exists() and not (tmp_path / "out").exists()


def test_the_chunk_size_of_the_spark_reading_is_a_number_of_bytes(monkeypatch):
    from engine.spark.chunked import CHUNK_ENV, DEFAULT_CHUNK, chunk_bytes

    monkeypatch.delenv(CHUNK_ENV, raising=False)
    assert chunk_bytes() == DEFAULT_CHUNK == 128 << 20
    monkeypatch.setenv(CHUNK_ENV, "1048576")
    assert chunk_bytes() == 1 << 20 and chunk_bytes(4096) == 4096
    for wrong in ("lots", "0", "-5"):
        monkeypatch.setenv(CHUNK_ENV, wrong)
        with pytest.raises(DiagnosticError, match=f"SP002.*REKINDLE_SPARK_CHUNK_BYTES='{wrong}' is not a number"):
            chunk_bytes()


def test_the_driver_heap_is_read_from_the_operators_settings_and_checked(monkeypatch, tmp_path):
    """Where the driver's heap comes from (engine/spark/driver.py): REKINDLE_SPARK_DRIVER_MEMORY or
    PYSPARK_SUBMIT_ARGS (which must agree), else spark-defaults.conf, else SPARK_DRIVER_MEMORY,
    else 4g in local mode and Spark's own default on a cluster; a bad value is named with where
    it came from (the file and line of spark-defaults.conf) before any JVM starts."""
    from engine.spark.driver import EXIT_ON_OOM, launch_settings

    for name in ("REKINDLE_SPARK_DRIVER_MEMORY", "PYSPARK_SUBMIT_ARGS", "SPARK_DRIVER_MEMORY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SPARK_CONF_DIR", str(tmp_path))
    assert launch_settings("local[2]") == {"spark.driver.memory": "4g", "spark.driver.defaultJavaOptions": EXIT_ON_OOM}
    assert "spark.driver.memory" not in launch_settings("yarn")

    monkeypatch.setenv("SPARK_DRIVER_MEMORY", "6g")
    assert launch_settings("local[2]")["spark.driver.memory"] == "6g"
    (tmp_path / "spark-defaults.conf").write_text("# site settings\nspark.driver.memory   8g\n"
                                                  "spark.driver.defaultJavaOptions -XX:+UseG1GC\n")
    settings = launch_settings("yarn")
    assert settings["spark.driver.memory"] == "8g"
    assert settings["spark.driver.defaultJavaOptions"] == f"{EXIT_ON_OOM} -XX:+UseG1GC"  # the site's kept
    monkeypatch.setenv("PYSPARK_SUBMIT_ARGS", "--master local[2] --driver-memory 10g pyspark-shell")
    assert launch_settings("local[2]")["spark.driver.memory"] == "10g"
    monkeypatch.setenv("REKINDLE_SPARK_DRIVER_MEMORY", "10240m")  # the same size: both kept
    assert launch_settings("local[2]")["spark.driver.memory"] == "10240m"
    monkeypatch.delenv("PYSPARK_SUBMIT_ARGS")
    monkeypatch.setenv("REKINDLE_SPARK_DRIVER_MEMORY", "12g")
    assert launch_settings("local[2]")["spark.driver.memory"] == "12g"

    monkeypatch.setenv("PYSPARK_SUBMIT_ARGS", "--conf spark.driver.memory=2g pyspark-shell")
    with pytest.raises(DiagnosticError, match=r"SP003.*REKINDLE_SPARK_DRIVER_MEMORY='12g' and PYSPARK_SUBMIT_ARGS' "
                                              r"spark.driver.memory='2g' disagree"):
        launch_settings("local[2]")
    monkeypatch.delenv("PYSPARK_SUBMIT_ARGS")
    for wrong, why in (("lots", "is not a heap size"), ("4096", "is not a heap size"), ("4gb", "is not a heap size"),
                       ("256m", "is below the 450m")):
        monkeypatch.setenv("REKINDLE_SPARK_DRIVER_MEMORY", wrong)
        with pytest.raises(DiagnosticError, match=f"SP003.*REKINDLE_SPARK_DRIVER_MEMORY='{wrong}' {why}.*e.g. 10g"):
            launch_settings("local[2]")
    monkeypatch.delenv("REKINDLE_SPARK_DRIVER_MEMORY")
    (tmp_path / "spark-defaults.conf").write_text("# site settings\n\nspark.driver.memory=eight\n")
    with pytest.raises(DiagnosticError) as found:
        launch_settings("local[2]")
    (diag,) = found.value.diagnostics
    assert (diag.code, diag.file, diag.line) == ("SP003", str(tmp_path / "spark-defaults.conf"), 3)
    assert diag.message == "spark.driver.memory='eight' is not a heap size"


def test_the_stall_time_of_a_spark_job_is_a_number_of_seconds(monkeypatch):
    from engine.spark.watchdog import DEFAULT_STALL, STALL_ENV, stall_seconds

    monkeypatch.delenv(STALL_ENV, raising=False)
    assert stall_seconds() == DEFAULT_STALL == 1800
    monkeypatch.setenv(STALL_ENV, "90")
    assert stall_seconds() == 90
    for wrong in ("soon", "0", "-5", "inf", "nan"):
        monkeypatch.setenv(STALL_ENV, wrong)
        with pytest.raises(DiagnosticError, match=f"SP004.*{STALL_ENV}='{wrong}' is not a number of seconds"):
            stall_seconds()


def test_a_bad_driver_heap_stops_a_spark_night_before_anything_is_written(night_inputs, tmp_path, monkeypatch):
    monkeypatch.setenv("REKINDLE_SPARK_DRIVER_MEMORY", "lots")
    monkeypatch.setenv("REKINDLE_HOME", str(tmp_path / "home"))
    result = _run(night_inputs, tmp_path, "--engine", "spark")
    assert result.exit_code == 1, result.output
    assert "SP003" in result.output and "REKINDLE_SPARK_DRIVER_MEMORY='lots' is not a heap size" in result.output
    assert not (tmp_path / "out").exists()
