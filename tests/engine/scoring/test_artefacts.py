import hashlib
import json
import os

import pytest
import skops.io as sio

from engine.base.diagnostics import DiagnosticError
from engine.scoring.artefacts import ALLOWED_TYPES, data_fingerprint, find_model, list_models, load_model, save_model


class NotOurs:
    """A class no artefact may contain."""

    def __init__(self):
        self.x = 1


def test_round_trip(trained, tables):
    meta, models_dir = trained
    assert len(meta["version"]) == 12 and meta["sha256"].startswith(meta["version"])
    blob = (models_dir / "stability" / f"{meta['version']}.skops").read_bytes()
    assert hashlib.sha256(blob).hexdigest() == meta["sha256"]
    stored = json.loads((models_dir / "stability" / f"{meta['version']}.json").read_text())
    for key in ("created", "data_fingerprint", "features", "metrics", "rules", "params"):
        assert stored[key]
    model = load_model(find_model(meta["version"][:6], "stability", models_dir), models_dir)
    assert model.rules() == meta["rules"]
    assert set(sio.get_untrusted_types(data=blob)) <= ALLOWED_TYPES


def _install(models_dir, blob, name="stability"):
    """Store raw bytes as an artefact with matching metadata (what an attacker with disk access could do)."""
    sha = hashlib.sha256(blob).hexdigest()
    meta = {"name": name, "version": sha[:12], "sha256": sha, "created": "2099-01-01T00:00:00+00:00"}
    (models_dir / name).mkdir(parents=True, exist_ok=True)
    (models_dir / name / f"{sha[:12]}.skops").write_bytes(blob)
    (models_dir / name / f"{sha[:12]}.json").write_text(json.dumps(meta))
    return meta


def test_tampered_file_refused(trained, tmp_path):
    meta, models_dir = trained
    blob = bytearray((models_dir / "stability" / f"{meta['version']}.skops").read_bytes())
    copy_dir = tmp_path / "copy"
    (copy_dir / "stability").mkdir(parents=True)
    blob[len(blob) // 2] ^= 0xFF
    (copy_dir / "stability" / f"{meta['version']}.skops").write_bytes(bytes(blob))
    with pytest.raises(DiagnosticError) as e:
        load_model(meta, copy_dir)
    assert e.value.diagnostics[0].code == "MD040" and "changed after it was stored" in e.value.diagnostics[0].message


def test_custom_class_refused(tmp_path):
    meta = _install(tmp_path, sio.dumps({"model": NotOurs()}))
    with pytest.raises(DiagnosticError) as e:
        load_model(meta, tmp_path)
    d = e.value.diagnostics[0]
    assert d.code == "MD041" and "NotOurs" in d.message


def test_os_system_reference_refused(tmp_path):
    meta = _install(tmp_path, sio.dumps({"f": os.system}))
    with pytest.raises(DiagnosticError) as e:
        load_model(meta, tmp_path)
    assert e.value.diagnostics[0].code == "MD041" and "system" in e.value.diagnostics[0].message


def test_save_refuses_what_it_could_not_load(tmp_path):
    with pytest.raises(ValueError, match="allow-list"):
        save_model("stability", NotOurs(), {}, tmp_path)


def test_list_marks_latest(trained):
    meta, models_dir = trained
    rows = list_models(models_dir)
    assert [r["version"] for r in rows if r["latest"]] == [meta["version"]]


def test_fingerprint_tracks_content(tables):
    subs = tables["subscribers"]
    assert data_fingerprint(subs) == data_fingerprint(subs.copy())
    changed = subs.copy()
    changed.loc[0, "arpu"] += 1
    assert data_fingerprint(changed) != data_fingerprint(subs)


def test_the_same_training_gives_the_same_version(tmp_path):
    """Versions are content hashes of a canonical file: no memory addresses, no zip timestamps."""
    import subprocess
    import sys

    script = (
        "import numpy as np, sys\n"
        "from sklearn.tree import DecisionTreeClassifier\n"
        "from engine.scoring.artefacts import save_model\n"
        "X = np.arange(40).reshape(20, 2); y = np.arange(20) % 2\n"
        "m = DecisionTreeClassifier(random_state=0).fit(X, y)\n"
        "print(save_model('tree', m, {}, sys.argv[1])['version'])\n"
    )
    versions = {subprocess.run([sys.executable, "-c", script, str(tmp_path / d)], check=True, capture_output=True,
                               text=True).stdout.strip() for d in ("a", "b")}
    assert len(versions) == 1 and len(versions.pop()) == 12
