"""Versioned model artefacts that load without executing arbitrary code.

Layout: `<models_dir>/<name>/<version>.skops` (the model, serialized by skops.io) beside
`<version>.json` (metadata). The version is the first 12 hex digits of the sha256 of the
.skops bytes, so a version names exactly one model. Loading

1. re-hashes the bytes and refuses a file whose hash no longer matches (tampered or corrupt);
2. asks skops which non-default types the file would build and refuses anything outside
   `ALLOWED_TYPES` (a fixed list shipped here) — a file naming `os.system` or some other class
   is never instantiated;
3. only then deserializes, trusting exactly those allowed types.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
import skops.io as sio

from engine.base import home
from engine.base.diagnostics import Diagnostic, DiagnosticError

VERSION_LENGTH = 12
# Types beyond skops' own defaults that our models contain. functools.partial is safe here
# because skops checks the function it wraps against this same list.
ALLOWED_TYPES = frozenset({
    "engine.scoring.response.ResponseModel",
    "engine.scoring.stability.StabilityClassifier",
    "functools.partial",
    "numpy.dtype",
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.model_selection._split.StratifiedKFold",
    "sklearn.tree._tree.Tree",
    "sklearn.utils.validation.check_array",
})


def data_fingerprint(frame: pd.DataFrame, labels: pd.Series | None = None) -> str:
    """sha256 of a frame's canonical bytes: column names, dtypes and per-cell hashes, in order."""
    digest = hashlib.sha256()
    parts = frame if labels is None else frame.assign(__label__=labels.to_numpy())
    for name in sorted(parts.columns, key=str):
        col = parts[name]
        digest.update(f"{name}\x00{col.dtype}\x00".encode())
        digest.update(pd.util.hash_pandas_object(col, index=False).to_numpy().tobytes())
    return digest.hexdigest()


def _root(models_dir: str | Path | None) -> Path:
    return Path(models_dir) if models_dir is not None else home.models_dir()


def canonical_dumps(model) -> bytes:
    """skops bytes that depend only on the model, so the same training gives the same version.

    skops names array files and object ids after `id()` (memory addresses) and stamps each zip
    entry with the current time; both are renumbered here in the order the schema lists them,
    with a fixed timestamp. Any consistent renaming loads back to the same model.
    """
    source = zipfile.ZipFile(io.BytesIO(sio.dumps(model)))
    schema = json.loads(source.read("schema.json"))
    numbers: dict[str, int] = {}

    def number(key: str) -> int:
        return numbers.setdefault(key, len(numbers) + 1)

    def renumber(node):
        if isinstance(node, dict):
            out = {}
            for key, value in node.items():
                if key == "__id__" and isinstance(value, int):
                    value = number(str(value))
                elif key == "file" and isinstance(value, str) and value.endswith(".npy"):
                    value = f"{number(value[:-4])}.npy"
                else:
                    value = renumber(value)
                out[key] = value
            return out
        if isinstance(node, list):
            return [renumber(v) for v in node]
        return node

    entries = {"schema.json": json.dumps(renumber(schema), indent=2).encode()}
    for info in source.infolist():
        if info.filename.endswith(".npy"):
            entries[f"{number(info.filename[:-4])}.npy"] = source.read(info)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as target:
        for name in sorted(entries):
            target.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), entries[name])
    return out.getvalue()


def save_model(name: str, model, metadata: dict, models_dir: str | Path | None = None) -> dict:
    """Store `model` under `name`; returns the full metadata (with version, sha256, created)."""
    blob = canonical_dumps(model)
    untrusted = set(sio.get_untrusted_types(data=blob))
    if untrusted - ALLOWED_TYPES:  # never write what we would refuse to read
        raise ValueError(f"model contains types outside the allow-list: {sorted(untrusted - ALLOWED_TYPES)}")
    sha = hashlib.sha256(blob).hexdigest()
    meta = {"name": name, "version": sha[:VERSION_LENGTH], "sha256": sha,
            "created": datetime.now(timezone.utc).isoformat(timespec="microseconds"), **metadata}
    folder = _root(models_dir) / name
    folder.mkdir(parents=True, exist_ok=True)
    # write-then-rename so a crash never leaves a half-written artefact behind
    for suffix, payload in ((".skops", blob), (".json", json.dumps(meta, indent=2, ensure_ascii=False, sort_keys=True).encode())):
        tmp = folder / f".{meta['version']}{suffix}.tmp"
        tmp.write_bytes(payload)
        tmp.replace(folder / f"{meta['version']}{suffix}")
    return meta


def list_models(models_dir: str | Path | None = None, name: str | None = None) -> list[dict]:
    """Metadata of every stored artefact, newest first per name; `latest` marks the newest."""
    root = _root(models_dir)
    out = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()) if root.exists() else []:
        if name is not None and folder.name != name:
            continue
        metas = []
        for path in folder.glob("*.json"):
            try:
                metas.append(json.loads(path.read_text(encoding="utf-8")))
            except (OSError, ValueError):
                continue  # unreadable metadata: show/load will report it by version
        metas.sort(key=lambda m: (m.get("created", ""), m.get("version", "")), reverse=True)
        for i, meta in enumerate(metas):
            out.append({**meta, "latest": i == 0})
    return out


def find_model(version: str | None = None, name: str | None = None, models_dir: str | Path | None = None,
               where=None) -> dict:
    """Metadata of one artefact: by version (or a unique prefix), else the latest of `name`."""
    metas = [m for m in list_models(models_dir, name) if where is None or where(m)]
    if version:
        hits = [m for m in metas if m["version"].startswith(version)]
        if len(hits) != 1:
            what = "no stored model has" if not hits else "more than one stored model matches"
            raise DiagnosticError([Diagnostic("MD042", f"{what} version '{version}'", path=name or "",
                                              hint="see `rekindle models list`")])
        return hits[0]
    if not metas:
        raise DiagnosticError([Diagnostic("MD043", f"no stored '{name}' model", hint="train one first")])
    return metas[0]


def load_model(meta: dict, models_dir: str | Path | None = None):
    """The model of an artefact, after checking its hash and the types it would build."""
    path = _root(models_dir) / meta["name"] / f"{meta['version']}.skops"
    try:
        blob = path.read_bytes()
    except OSError as exc:
        raise DiagnosticError([Diagnostic("MD040", f"cannot read model file: {exc.strerror or exc}", file=str(path))]) from None
    sha = hashlib.sha256(blob).hexdigest()
    if sha != meta.get("sha256") or not sha.startswith(meta["version"]):
        raise DiagnosticError([Diagnostic(
            "MD040", f"model file does not match its recorded hash (sha256 {sha[:VERSION_LENGTH]}…, expected {meta['version']}…): "
            "it was changed after it was stored", file=str(path), hint="restore the file or retrain the model")])
    try:
        untrusted = set(sio.get_untrusted_types(data=blob))
    except Exception as exc:  # a corrupt archive: refuse rather than guess
        raise DiagnosticError([Diagnostic("MD041", f"not a readable skops file: {exc}", file=str(path))]) from None
    refused = sorted(untrusted - ALLOWED_TYPES)
    if refused:
        raise DiagnosticError([Diagnostic("MD041", f"model file would build types outside the allow-list: {', '.join(refused)}",
                                          file=str(path), hint="refusing to load it; retrain the model with this version of Rekindle")])
    return sio.loads(blob, trusted=sorted(untrusted))
