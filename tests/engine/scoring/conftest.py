import pytest

from models_synthetic import snapshot_tables


@pytest.fixture(autouse=True)
def _home(tmp_path, monkeypatch):
    monkeypatch.setenv("REKINDLE_HOME", str(tmp_path / "home"))


@pytest.fixture(scope="session")
def tables():
    return snapshot_tables(600, seed=0)


@pytest.fixture(scope="session")
def trained(tmp_path_factory, tables):
    """One stability model trained on the synthetic snapshot, stored in its own models dir."""
    from engine.scoring.features import churn_training_frame
    from engine.scoring.training import train_stability
    from models_synthetic import AS_OF

    models_dir = tmp_path_factory.mktemp("models")
    X, y = churn_training_frame(tables, AS_OF)
    meta = train_stability(X, y, X.index.to_series(), {"kind": "snapshot", "data": "synthetic", "as_of": str(AS_OF)},
                           models_dir=models_dir, hgb_candidates=2)
    return meta, models_dir
