import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.base.diagnostics import DiagnosticError
from engine.scoring.sensitivity import (
    DEFAULT_SUBSCRIPTION_WEIGHTS,
    DEFAULT_USAGE_WEIGHTS,
    SENSITIVITY_SERVICES,
    SensitivityConfig,
    SensitivityInputs,
    _services,
    compute_sensitivity,
    frequency_bands,
    frequency_scores,
    load_sensitivity_config,
    sensitivity_scores,
)

AS_OF = pd.Timestamp("2026-11-15").date()  # M0 = 2026-11, M1 = 2026-10 (本期, the period Dᵢ ranks)


def _subs(rows):
    return pd.DataFrame(rows, columns=["msisdn", "service", "status"])


def _usage(rows):
    """(msisdn, service, month, active_days); `uses` mirrors active_days (Dᵢ must not read it)."""
    frame = pd.DataFrame(rows, columns=["msisdn", "service", "month", "active_days"])
    frame["uses"] = 1000 - frame["active_days"]  # opposite order: a ranking by uses would fail the tests
    return frame


# PLAYBOOKS.md §2, the Shaanxi table as printed: (service, Aᵢ, Cᵢ), i = 1..10.
SHAANXI = [("fetion", 0.0898, 0.0798), ("newspaper", 0.1316, 0.0428), ("sms", 0.0362, 0.0299),
           ("mms", 0.0362, 0.0321), ("mailbox139", 0.0848, 0.1681), ("music_club", 0.1839, 0.1892),
           ("reading", 0.1601, 0.0798), ("game", 0.1394, 0.1892), ("gprs", 0.0643, 0.1892),
           ("wlan", 0.0738, 0.0433)]


def test_default_table_is_the_full_shaanxi_table_as_printed():
    assert DEFAULT_SUBSCRIPTION_WEIGHTS == {s: a for s, a, _ in SHAANXI}
    assert DEFAULT_USAGE_WEIGHTS == {s: c for s, _, c in SHAANXI}
    assert SENSITIVITY_SERVICES == tuple(s for s, _, _ in SHAANXI)
    # the sums of the source, kept as given (not renormalised)
    assert sum(DEFAULT_SUBSCRIPTION_WEIGHTS.values()) == pytest.approx(1.0001, abs=1e-9)
    assert sum(DEFAULT_USAGE_WEIGHTS.values()) == pytest.approx(1.0434, abs=1e-9)


def test_shipped_sensitivity_file_is_the_default_table():
    from pathlib import Path

    shipped = load_sensitivity_config(Path(__file__).resolve().parents[3] / "rules" / "sensitivity.yaml")
    assert shipped.subscription == DEFAULT_SUBSCRIPTION_WEIGHTS and shipped.usage == DEFAULT_USAGE_WEIGHTS
    assert shipped.sensitive_share == 0.2 and shipped.version() == SensitivityConfig().version()


def test_equal_scores_share_one_percentile():
    # 0.0661 reached two ways: 0.0361 + 0.03 and 0.0661 + 0 differ in floating point
    # (0.0661 vs 0.06609999999999999); rounded before ranking they tie.
    config = SensitivityConfig(subscription={"fetion": 0.0361, "reading": 0.0661}, usage={"fetion": 0.03, "wlan": 1.8678})
    subs = _subs([("a", "fetion", "active"), ("b", "reading", "active")] + [(f"z{i}", "wlan", "active") for i in range(3)])
    usage = _usage([("a", "fetion", "2026-10", 5)])
    assert 0.0361 + 0.03 != 0.0661 + 0.0
    out = compute_sensitivity(pd.Series(["a", "b", "z0", "z1", "z2"]), subs, usage, AS_OF, config)
    assert out.loc["a", "sensitivity"] == out.loc["b", "sensitivity"]
    assert out.loc["a", "sensitivity_pct"] == out.loc["b", "sensitivity_pct"]


def test_exactly_the_80th_percentile_is_data_sensitive():
    # five distinct scores: mean percentile ranks 10, 30, 50, 70, 90 → only the top one; with
    # ten: 5, 15, …, 95 → ranks ≥ 80 are the top two
    ids = pd.Series([f"m{i}" for i in range(10)])
    subs = _subs([(f"m{i}", s, "active") for i in range(10) for s in SENSITIVITY_SERVICES[:i]])
    out = compute_sensitivity(ids, subs, _usage([]), AS_OF)
    assert out.loc["m8", "sensitivity_pct"] == pytest.approx(85.0) and out.loc["m8", "data_sensitive"]
    assert out.loc["m7", "sensitivity_pct"] == pytest.approx(75.0) and not out.loc["m7", "data_sensitive"]
    # a tie exactly on 80: pct = 80 counts as sensitive (≥)
    two = compute_sensitivity(pd.Series(["a", "b", "c", "d", "e"]),
                              _subs([("a", "fetion", "active"), ("b", "fetion", "active")]), _usage([]), AS_OF,
                              SensitivityConfig(subscription={"fetion": 1.0}, usage={}, sensitive_share=0.2))
    assert two.loc["a", "sensitivity_pct"] == pytest.approx(80.0) and two.loc["a", "data_sensitive"]


def test_hand_computed_example():
    config = SensitivityConfig(subscription={"fetion": 0.3, "reading": 0.2}, usage={"fetion": 0.3, "reading": 0.2})
    subs = _subs([("s1", "fetion", "active"), ("s2", "fetion", "cancelled"), ("s3", "reading", "active"),
                  ("s4", "fetion", "active"), ("s4", "reading", "active"), ("s6", "reading", "suspended"),
                  ("s7", "video", "active")])
    usage = _usage([
        # fetion days of use in M1: s1 10, s2 8, s3 6, s4 4, s5 2 → bands 1, .8, .4, .2, 0
        ("s1", "fetion", "2026-10", 10), ("s2", "fetion", "2026-10", 8),
        ("s3", "fetion", "2026-10", 6), ("s4", "fetion", "2026-10", 4), ("s5", "fetion", "2026-10", 2),
        ("s5", "fetion", "2026-11", 30),  # M0 does not count
        ("s6", "fetion", "2026-09", 30),  # M2 is not this period
        # reading users: s1 and s6 tie with 5 days → nobody used it more → band 1
        ("s1", "reading", "2026-10", 5), ("s6", "reading", "2026-10", 5),
        ("s3", "reading", "2026-10", 0),  # zero days: not a user
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
    assert out.index[out["data_sensitive"]].tolist() == ["s1"]  # top 20%: pct ≥ 80


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
    assert out.index[out["data_sensitive"]].tolist() == ["m5", "m6", "m7", "m8", "m9"]
    assert compute_sensitivity(ids, subs, _usage([]), AS_OF)["data_sensitive"].sum() == 2
    assert half.version() != SensitivityConfig().version()


def test_band_shares_on_a_larger_base():
    # each service's users split into the five bands in about equal fifths (benchmarks/ times 1M rows)
    rng = np.random.default_rng(1)
    n = 20_000
    ids = pd.Series([f"{i:011d}" for i in range(n)])
    subs = pd.DataFrame({"msisdn": ids.sample(n // 2, random_state=1).to_numpy(), "service": rng.choice(SENSITIVITY_SERVICES, n // 2),
                         "status": "active"}).drop_duplicates(["msisdn", "service"])
    usage = pd.DataFrame({"msisdn": ids.to_numpy(), "service": rng.choice(SENSITIVITY_SERVICES, n),
                          "month": "2026-10", "uses": rng.poisson(3, n)})
    usage["active_days"] = rng.permutation(n) + 1  # distinct counts: no ties at the band edges
    config = SensitivityConfig(subscription={}, usage={"reading": 1.0})
    out = compute_sensitivity(ids, subs, usage, AS_OF, config)
    users = usage.loc[usage.service == "reading", "msisdn"]
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


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 11), st.integers(1, 31)), max_size=200))
def test_frequency_bands_are_the_groupbys_floats(entries):
    """The night's Dᵢ a service at a time, from arrays, is `frequency_scores`' (a groupby), bit for bit."""
    service = np.array([s for s, _ in entries], dtype=np.int64)
    uses = np.array([u for _, u in entries], dtype=np.int64)
    got = frequency_bands(service, uses)
    want = frequency_scores(pd.DataFrame({"service": service, "uses": uses})).to_numpy() if entries else np.zeros(0)
    assert got.dtype == np.float64 and got.tobytes() == want.astype(np.float64).tobytes()


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 90), st.sampled_from([4, 8, 64]), st.randoms(use_true_random=False))
def test_sensitivity_in_blocks_of_rows_is_the_whole_matrix(n, rows, rng):
    """B and D a block of rows at a time give the same floats as the whole matrices did."""
    config = SensitivityConfig()
    services = _services(config)
    subscribed = np.array([[rng.random() < 0.4 for _ in services] for _ in range(n)], dtype=bool).reshape(n, len(services))
    pairs = sorted({(rng.randrange(n), rng.randrange(len(services))) for _ in range(2 * n)}) if n else []
    inputs = SensitivityInputs(subscribed, np.array([p for p, _ in pairs], dtype=np.int64),
                               np.array([s for _, s in pairs], dtype=np.int64),
                               np.array([rng.randint(1, 31) for _ in pairs], dtype=np.int64))
    index = pd.RangeIndex(n)
    got = sensitivity_scores(index, inputs, config, rows=rows)
    # the reference: the whole base's B and D at once, as the formula was computed before blocks
    a = np.array([config.subscription.get(s, 0.0) for s in services])
    c = np.array([config.usage.get(s, 0.0) for s in services])
    d = np.zeros((n, len(services)))
    if pairs:
        d[inputs.used_at, inputs.used_service] = frequency_scores(
            pd.DataFrame({"service": inputs.used_service, "uses": inputs.used_days})).to_numpy()
    score = subscribed.astype(float) @ a + d @ c
    want = np.round(score / (a.sum() + c.sum()), 10)
    assert got["sensitivity"].to_numpy().tobytes() == want.tobytes()
    assert got.equals(sensitivity_scores(index, inputs, config))
