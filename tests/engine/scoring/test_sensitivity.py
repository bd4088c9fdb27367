import numpy as np
import pandas as pd
import pytest

from engine.base.diagnostics import DiagnosticError
from engine.scoring.sensitivity import (
    DEFAULT_SUBSCRIPTION_WEIGHTS,
    DEFAULT_USAGE_WEIGHTS,
    SENSITIVITY_SERVICES,
    SensitivityConfig,
    compute_sensitivity,
    load_sensitivity_config,
)

AS_OF = pd.Timestamp("2026-11-15").date()  # M0 = 2026-11, M1..M3 = 2026-10, -09, -08


def _subs(rows):
    return pd.DataFrame(rows, columns=["msisdn", "service", "status"])


def _usage(rows):
    return pd.DataFrame(rows, columns=["msisdn", "service", "month", "uses"])


def test_default_table_keeps_anchors_and_sums_to_one():
    assert DEFAULT_SUBSCRIPTION_WEIGHTS["fetion"] == 0.0898
    assert DEFAULT_USAGE_WEIGHTS["wlan"] == 0.0433
    assert set(DEFAULT_SUBSCRIPTION_WEIGHTS) == set(DEFAULT_USAGE_WEIGHTS) == set(SENSITIVITY_SERVICES)
    assert sum(DEFAULT_SUBSCRIPTION_WEIGHTS.values()) + sum(DEFAULT_USAGE_WEIGHTS.values()) == pytest.approx(1.0, abs=1e-9)


def test_hand_computed_example():
    config = SensitivityConfig(subscription={"fetion": 0.3, "reading": 0.2}, usage={"fetion": 0.3, "reading": 0.2})
    subs = _subs([("s1", "fetion", "active"), ("s2", "fetion", "cancelled"), ("s3", "reading", "active"),
                  ("s4", "fetion", "active"), ("s4", "reading", "active"), ("s6", "reading", "suspended"),
                  ("s7", "video", "active")])
    usage = _usage([
        # fetion users over M1..M3: s1 10, s2 8, s3 6, s4 4, s5 2 → bands 1, .8, .4, .2, 0
        ("s1", "fetion", "2026-10", 4), ("s1", "fetion", "2026-08", 6), ("s2", "fetion", "2026-09", 8),
        ("s3", "fetion", "2026-10", 6), ("s4", "fetion", "2026-10", 4), ("s5", "fetion", "2026-10", 2),
        ("s5", "fetion", "2026-11", 50),  # M0 does not count
        ("s7", "fetion", "2026-07", 50),  # before M3 does not count
        # reading users: s1 and s6 tie with 5 → nobody used it more → band 1
        ("s1", "reading", "2026-09", 5), ("s6", "reading", "2026-09", 5),
        ("s3", "reading", "2026-10", 0),  # zero uses: not a user
        ("s7", "video", "2026-10", 9),  # not a weighted service
    ])
    out = compute_sensitivity(pd.Series(["s1", "s2", "s3", "s4", "s5", "s6", "s7"]), subs, usage, AS_OF, config)
    expected = {"s1": 0.3 + 0.3 * 1 + 0.2 * 1, "s2": 0.3 * 0.8, "s3": 0.2 + 0.3 * 0.4,
                "s4": 0.3 + 0.2 + 0.3 * 0.2, "s5": 0.0, "s6": 0.2 * 1, "s7": 0.0}
    assert out["sensitivity"].to_dict() == pytest.approx(expected)  # max attainable = 1.0
    # mean percentile rank: sorted 0, 0, .2, .24, .32, .56, .8
    assert out.loc["s1", "sensitivity_pct"] == pytest.approx(6.5 / 7 * 100)
    assert out.loc["s5", "sensitivity_pct"] == pytest.approx(1.0 / 7 * 100)
    assert out.loc["s7", "sensitivity_pct"] == pytest.approx(1.0 / 7 * 100)
    assert out.index[out["sensitive"]].tolist() == ["s1"]  # top 20%: pct ≥ 80


def test_normalised_by_max_attainable_score():
    config = SensitivityConfig(subscription={"fetion": 2.0}, usage={"fetion": 2.0})
    out = compute_sensitivity(pd.Series(["a", "b"]), _subs([("a", "fetion", "active")]),
                              _usage([("a", "fetion", "2026-10", 3)]), AS_OF, config)
    assert out.loc["a", "sensitivity"] == pytest.approx(1.0)
    assert out.loc["b", "sensitivity"] == 0.0


def test_sensitive_share_is_configurable():
    # m_i subscribes to the first i services: ten distinct scores
    ids = pd.Series([f"m{i}" for i in range(10)])
    subs = _subs([(f"m{i}", s, "active") for i in range(10) for s in SENSITIVITY_SERVICES[:i]])
    half = SensitivityConfig(sensitive_share=0.5)
    out = compute_sensitivity(ids, subs, _usage([]), AS_OF, half)
    assert out.index[out["sensitive"]].tolist() == ["m5", "m6", "m7", "m8", "m9"]
    assert compute_sensitivity(ids, subs, _usage([]), AS_OF)["sensitive"].sum() == 2
    assert half.version() != SensitivityConfig().version()


def test_band_shares_on_a_larger_base():
    # each service's users split into the five bands in about equal fifths (benchmarks/ times 1M rows)
    rng = np.random.default_rng(1)
    n = 20_000
    ids = pd.Series([f"{i:011d}" for i in range(n)])
    subs = pd.DataFrame({"msisdn": ids.sample(n // 2, random_state=1).to_numpy(), "service": rng.choice(SENSITIVITY_SERVICES, n // 2),
                         "status": "active"}).drop_duplicates(["msisdn", "service"])
    usage = pd.DataFrame({"msisdn": ids.to_numpy(), "service": rng.choice(SENSITIVITY_SERVICES, n),
                          "month": rng.choice(["2026-10", "2026-09", "2026-08"], n), "uses": rng.poisson(3, n)})
    usage["uses"] = rng.permutation(n) + 1  # distinct counts: no ties at the band edges
    config = SensitivityConfig(subscription={}, usage={"video": 1.0})
    out = compute_sensitivity(ids, subs, usage, AS_OF, config)
    users = usage.loc[usage.service == "video", "msisdn"]
    shares = out.loc[users, "sensitivity"].value_counts(normalize=True).sort_index()
    assert shares.index.tolist() == [0.0, 0.2, 0.4, 0.8, 1.0]
    assert shares.to_numpy() == pytest.approx([0.2] * 5, abs=0.01)
    assert out["sensitivity"].between(0, 1).all() and len(out) == n


def _weights_file(tmp_path, text):
    p = tmp_path / "w.yaml"
    p.write_text(text, encoding="utf-8")
    return p


def test_weights_file_replaces_defaults(tmp_path):
    p = _weights_file(tmp_path, "subscription_weights: {fetion: 0.5}\nusage_weights: {reading: 0.5}\nsensitive_share: 0.1\n")
    c = load_sensitivity_config(p)
    assert c.subscription == {"fetion": 0.5} and c.usage == {"reading": 0.5} and c.sensitive_share == 0.1


def test_weights_by_ahp_matrices_and_split(tmp_path):
    p = _weights_file(tmp_path, (
        "subscription_ahp: {criteria: [fetion, reading], matrix: [[1, 3], ['1/3', 1]]}\n"
        "usage_ahp: {criteria: [video, wlan], matrix: [[1, 1], [1, 1]]}\n"
        "subscription_share: 0.6\n"))
    c = load_sensitivity_config(p)
    assert c.subscription == pytest.approx({"fetion": 0.45, "reading": 0.15})
    assert c.usage == pytest.approx({"video": 0.2, "wlan": 0.2})


def test_inconsistent_ahp_in_weights_file_rejected_with_pair(tmp_path):
    p = _weights_file(tmp_path, (
        "subscription_ahp:\n  criteria: [fetion, reading, video]\n"
        "  matrix: [[1, 9, '1/9'], ['1/9', 1, 9], [9, '1/9', 1]]\n"
        "usage_ahp: {criteria: [video, wlan], matrix: [[1, 1], [1, 1]]}\n"))
    with pytest.raises(DiagnosticError) as e:
        load_sensitivity_config(p)
    d = e.value.diagnostics[0]
    assert d.code == "MD017" and d.line == 3 and "most inconsistent pair" in d.hint


def test_unknown_service_in_weights_file_suggests(tmp_path):
    p = _weights_file(tmp_path, "subscription_weights:\n  fetoin: 0.5\nusage_weights: {reading: 0.5}\n")
    with pytest.raises(DiagnosticError) as e:
        load_sensitivity_config(p)
    d = e.value.diagnostics[0]
    assert d.code == "MD021" and d.line == 2 and "fetion" in d.hint
