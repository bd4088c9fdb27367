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
