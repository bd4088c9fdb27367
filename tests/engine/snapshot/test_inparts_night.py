"""A night whose snapshot files are read in parts (REKINDLE_LOAD_PART_BYTES, engine/snapshot/inparts.py)
decides exactly as the session's shared run, whose files were read whole: the same `rekindle
export` files byte for byte (the five channel lists and the front-desk view, which loads the
snapshot again), the same channel files, funnel and snapshot fingerprint."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from engine.night.channels import CHANNELS
from engine.night.run import RunOptions, run_night
from engine.outputs.export import export_text
from engine.outputs.views import export_view
from engine.snapshot.inparts import PART_ENV, csv_pieces
from engine.store.database import dispose_all, get_engine


VIEWS_HERE = ("front-desk",)  # every segment's subscribers; it loads the snapshot again, in parts too


def _exports(run_id: str, db_url: str, folder: Path) -> dict[str, bytes]:
    """Every export of the run (channel lists, views as CSV), the run id masked."""
    folder.mkdir()
    found = {}
    for channel in CHANNELS:
        _id, body, _warnings = export_text(run_id, channel, db_url)
        found[channel] = body.encode("utf-8")
    for view in VIEWS_HERE:
        _id, path, _rows = export_view(run_id, view, folder / f"{view}.csv", db_url)
        found[view] = path.read_bytes()
    return {name: body.replace(run_id.encode(), b"<run>") for name, body in found.items()}


def _run_row(db_url: str, run_id: str):
    with get_engine(db_url).connect() as conn:
        return tuple(conn.execute(text("SELECT status, facts, decisions, chain_count, funnel, model_versions, "
                                       "content_hashes, snapshot_fingerprint FROM run WHERE id = :r"), {"r": run_id}).one())


def test_a_night_on_files_read_in_parts_exports_what_a_night_on_whole_files_exports(stored_run_sqlite, tmp_path,
                                                                                   monkeypatch):
    local = stored_run_sqlite
    monkeypatch.setenv("REKINDLE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv(PART_ENV, raising=False)
    try:
        whole = _exports(local.run_id, local.db_url, tmp_path / "whole")
        size = 64 << 10  # usage_monthly in ~34 parts, subscribers and subscriptions in several
        assert len(list(csv_pieces(local.inputs.data / "usage_monthly.csv", size))) >= 30
        monkeypatch.setenv(PART_ENV, str(size))
        options = RunOptions(data=local.inputs.data, as_of=local.inputs.as_of, db_url=f"sqlite:///{tmp_path / 'parts.db'}",
                             out=tmp_path / "parts-out", rules_dir=local.rules, strategies_dir=local.strategies,
                             models_dir=local.inputs.models)
        result = run_night(options)
        parts = _exports(result.run_id, options.db_url, tmp_path / "parts")
        assert (result.facts, result.decisions, result.funnel) == \
            (local.result.facts, local.result.decisions, local.result.funnel)
        assert result.decisions > 0 and len(whole) == len(CHANNELS) + len(VIEWS_HERE)
        for name in whole:
            assert parts[name] == whole[name], name
        for channel in CHANNELS:
            assert (options.out / f"{channel}.csv").read_bytes() == (local.out / f"{channel}.csv").read_bytes()
        assert _run_row(options.db_url, result.run_id) == _run_row(local.db_url, local.run_id)
    finally:
        dispose_all()
