"""What the driver ships to Spark executors, as data only: no pickled code, no pickled models.

A Spark night (engine/spark/pool.py) decides each slice of the base (engine/night/slices.py) in
an executor with the same Python code as the local engine (SliceRunner, Partition). An
executor needs, besides the engine's code (installed on every node, like any PySpark job's
libraries):

- the **night** (`pack_night`, one broadcast per run): the rule and strategy files as bytes
  (loaded again on the executor with the same safe YAML loader and checked against their
  sha256), the compiled rule set as its JSON artefact with its sha256 (engine.rules.compiler
  .CompiledSet: plain data, refused on a hash mismatch), the run's plain parameters (run id,
  as-of date, holdout period, model versions, the hot-content index) as JSON, and the latest
  response model as its skops bytes and metadata, written into a private models folder on the
  executor and loaded by engine.scoring.artefacts.load_model (hash and type allow-list), the
  same as a local run loads it;
- the **slice** (`pack_slice`, one record per slice): the slice's rows of every table that has
  an msisdn, the other tables whole, and the slice's subscribers' base-wide scores, each as an
  Arrow IPC stream. Categorical columns keep only the categories the slice uses.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import shutil
import tempfile
from datetime import date
from pathlib import Path

# A slice travels as the bytes a local night writes to its slice files (engine/night/slicefiles.py);
# the Spark modules take these names from here.
from engine.night.slicefiles import bytes_frame, frame_bytes, ipc_bytes, pack_slice, unpack_slice  # noqa: F401


# -- the night ----------------------------------------------------------------------------------
def _files(folder: Path) -> dict[str, bytes]:
    folder = Path(folder)
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def pack_night(ctx, compiled, versions: dict, options) -> dict:
    """The run's constants for every executor (module docstring); plain bytes, strings and lists."""
    from engine.base.home import models_dir as home_models
    from engine.scoring.response import MODEL_NAME, latest_response

    _model, meta = latest_response(options.models_dir)
    model = {}
    if meta is not None:
        root = (Path(options.models_dir) if options.models_dir is not None else home_models()) / meta["name"]
        model = {"name": MODEL_NAME, "version": meta["version"],
                 "skops": (root / f"{meta['version']}.skops").read_bytes(), "meta": json.dumps(meta)}
    hot = {service: [[title, sorted(tags)] for title, tags in items] for service, items in ctx.hot_content.items()}
    return {
        "rules": _files(options.rules_dir), "strategies": _files(options.strategies_dir),
        "compiled": compiled.to_json(), "compiled_sha256": compiled.sha256,
        "params": json.dumps({"run_id": ctx.run_id, "as_of": ctx.as_of.isoformat(), "period": ctx.period,
                              "versions": dict(versions), "model_versions": ctx.model_versions,
                              "content_hashes": ctx.content_hashes, "hot": hot}, sort_keys=True),
        "model": model,
    }


class Night:
    """An executor's view of the night: content, compiled set, context and a models folder."""

    def __init__(self, shipped: dict):
        from engine.content.documents import load_content
        from engine.night.context import build_context
        from engine.rules.compiler import CompiledSet

        params = json.loads(shipped["params"])
        self.key = night_key(shipped)
        self.folder = Path(tempfile.mkdtemp(prefix="rekindle-spark-"))
        rules, strategies, models = self.folder / "rules", self.folder / "strategies", self.folder / "models"
        for where, files in ((rules, shipped["rules"]), (strategies, shipped["strategies"])):
            for rel, data in files.items():
                path = where / rel
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(data)
        models.mkdir()
        model = shipped["model"]
        if model:
            (models / model["name"]).mkdir()
            (models / model["name"] / f"{model['version']}.skops").write_bytes(model["skops"])
            (models / model["name"] / f"{model['version']}.json").write_text(model["meta"], encoding="utf-8")
        self.models_dir = models
        content, _diags = load_content(rules, strategies)
        self.content = content
        text = shipped["compiled"]
        if hashlib.sha256(text.encode("utf-8")).hexdigest() != shipped["compiled_sha256"]:
            raise RuntimeError("the compiled rule set arrived with another hash than the driver's: refusing it")
        self.compiled = CompiledSet.from_json(text)
        self.as_of = date.fromisoformat(params["as_of"])
        hot = {service: [(title, frozenset(tags)) for title, tags in items] for service, items in params["hot"].items()}
        self.ctx = build_context(content, params["run_id"], self.as_of, params["period"], hot_content=hot,
                                 model_versions=params["model_versions"])
        if self.ctx.content_hashes != params["content_hashes"]:
            raise RuntimeError("the rule files on the executor do not hash as on the driver: refusing them")
        self.versions = params["versions"]


_NIGHTS: dict[str, Night] = {}  # per Python worker process (Spark reuses them): one Night per run


@atexit.register
def _clean() -> None:
    for night in _NIGHTS.values():
        shutil.rmtree(night.folder, ignore_errors=True)


def night_key(shipped: dict) -> str:
    return shipped["compiled_sha256"] + json.loads(shipped["params"])["run_id"]


def night_of(shipped: dict) -> Night:
    key = night_key(shipped)
    if key not in _NIGHTS:
        for old in _NIGHTS.values():
            shutil.rmtree(old.folder, ignore_errors=True)
        _NIGHTS.clear()
        _NIGHTS[key] = Night(shipped)
    return _NIGHTS[key]

