"""Data-service sensitivity 数据业务敏感度 (SPEC §4, PLAYBOOKS.md §2), the operator's formula, vectorised.

    score = Σ Aᵢ·Bᵢ + Σ Cᵢ·Dᵢ

Bᵢ is 1 when the subscriber has an active subscription to service i. Dᵢ scores the subscriber's
**days of use this period** (本期使用天数: `active_days` of service i in M1, the latest complete
month) against everyone else who used the service that month: top 20% of users → 1, 20–40% →
0.8, 40–60% → 0.4, 60–80% → 0.2, the rest and non-users → 0. A subscriber's place among users is
the share of users with strictly more days: under 20% → top band; tied subscribers share the
better band, and a service's only user is in the top band.
`sensitivity` is the score over the maximum attainable score (Σ A + Σ C), 0..1, rounded to 10
decimals **before** ranking, so scores that are equal in exact arithmetic (0.0661 vs
0.06609999999999999) are equal here and share one `sensitivity_pct`; `sensitivity_pct` is the
mean percentile rank in the base, 0..100 (ties share the mean of their ranks), and
`data_sensitive` = sensitivity_pct ≥ 100 · (1 − sensitive_share): the top 20% by default.

Weights. The operator edits them in `rules/sensitivity.yaml` (content kind `sensitivity`: schema,
validation with line numbers, approval, hash in every trace); `rekindle models ahp` can write AHP
weights into that format. The defaults below, used when no such file exists, are the **Shaanxi
table** (陕西省, ten services) of PLAYBOOKS.md §2, exactly as printed: the A column sums to 1.0001
and the C column to 1.0434 in the source; the figures are kept as given (the score is divided by
Σ A + Σ C, so the sums only scale it). Services outside the table carry no weight.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from engine.snapshot.contract import SERVICE_IDS
from engine.base.diagnostics import Diagnostic, DiagnosticError, did_you_mean
from engine.scoring.ahp import ahp_from_doc, inconsistency_diagnostic
from engine.facts.keys import SnapshotKeys, positions, snapshot_keys
from engine.base.yamlfile import YamlDoc, load_yaml

SENSITIVITY_SERVICES = ("fetion", "newspaper", "sms", "mms", "mailbox139",
                        "music_club", "reading", "game", "gprs", "wlan")  # Shaanxi table order, i = 1..10

# A: subscription (open / ordered) weights, Shaanxi table as printed (sum 1.0001).
DEFAULT_SUBSCRIPTION_WEIGHTS = {
    "fetion": 0.0898, "newspaper": 0.1316, "sms": 0.0362, "mms": 0.0362, "mailbox139": 0.0848,
    "music_club": 0.1839, "reading": 0.1601, "game": 0.1394, "gprs": 0.0643, "wlan": 0.0738,
}
# C: days-used-this-period weights, Shaanxi table as printed (sum 1.0434).
DEFAULT_USAGE_WEIGHTS = {
    "fetion": 0.0798, "newspaper": 0.0428, "sms": 0.0299, "mms": 0.0321, "mailbox139": 0.1681,
    "music_club": 0.1892, "reading": 0.0798, "game": 0.1892, "gprs": 0.1892, "wlan": 0.0433,
}
SCORE_DECIMALS = 10  # sensitivity is rounded to this before ranking (tie-aware percentiles)
USAGE_MONTH = 1  # Dᵢ ranks active_days of M1, the latest complete month (本期)
# (share of users with more uses stays below this bound, score)
FREQUENCY_BANDS = ((0.2, 1.0), (0.4, 0.8), (0.6, 0.4), (0.8, 0.2))
DEFAULT_SENSITIVE_SHARE = 0.2


@dataclass(frozen=True)
class SensitivityConfig:
    """Weights A (subscription) and C (usage) by service, and the share called sensitive."""

    subscription: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_SUBSCRIPTION_WEIGHTS))
    usage: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_USAGE_WEIGHTS))
    sensitive_share: float = DEFAULT_SENSITIVE_SHARE

    def canonical(self) -> dict:
        return {
            "subscription": {k: round(float(v), 10) for k, v in sorted(self.subscription.items())},
            "usage": {k: round(float(v), 10) for k, v in sorted(self.usage.items())},
            "sensitive_share": self.sensitive_share,
            "bands": [list(b) for b in FREQUENCY_BANDS],
        }

    def version(self) -> str:
        """The formula's version: a short hash of its weights, so traces stay reproducible."""
        blob = json.dumps(self.canonical(), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:12]


def frequency_scores(usage_3m: pd.DataFrame) -> pd.Series:
    """Dᵢ for each (msisdn, service) row (columns service, uses: the days of use, > 0)."""
    by_service = usage_3m.groupby("service", sort=False)["uses"]
    # share of the service's users with strictly more uses; ties take the better band
    share_above = (by_service.rank(method="min", ascending=False) - 1) / by_service.transform("size")
    conditions = [share_above < upper - 1e-12 for upper, _ in FREQUENCY_BANDS]
    return pd.Series(np.select(conditions, [s for _, s in FREQUENCY_BANDS], default=0.0), index=usage_3m.index)


def frequency_bands(service: np.ndarray, uses: np.ndarray) -> np.ndarray:
    """`frequency_scores` of entries given as arrays (each entry's service code and days of use,
    integers > 0), a service at a time: the same floats — a user's share above is the count of
    the service's users with strictly more days over its users, which is pandas' (min rank − 1)
    / size exactly — without a groupby's working set over every entry of the base (~60 B an
    entry; 3M subscribers have ~9M)."""
    out = np.zeros(len(service))
    if not len(service):
        return out
    order = np.argsort(service, kind="stable")
    grouped = service[order]
    bounds = np.flatnonzero(np.r_[True, grouped[1:] != grouped[:-1], True])
    del grouped
    for start, stop in zip(bounds[:-1].tolist(), bounds[1:].tolist()):
        rows = order[start:stop]
        days = uses[rows]
        above = len(days) - np.searchsorted(np.sort(days), days, side="right")
        share_above = above.astype(np.float64) / len(days)
        conditions = [share_above < upper - 1e-12 for upper, _ in FREQUENCY_BANDS]
        out[rows] = np.select(conditions, [s for _, s in FREQUENCY_BANDS], default=0.0)
    return out


def percentile_rank(values: pd.Series) -> pd.Series:
    """Mean percentile rank 0..100: (share strictly below + share at or below) / 2."""
    n = len(values)
    if n == 0:
        return values.astype(float)
    return (values.rank(method="average") - 0.5) / n * 100.0


def compute_sensitivity(msisdns: pd.Series | pd.Index, subscriptions: pd.DataFrame, usage_monthly: pd.DataFrame,
                        as_of: date, config: SensitivityConfig | None = None, keys: SnapshotKeys | None = None) -> pd.DataFrame:
    """`sensitivity`, `sensitivity_pct`, `data_sensitive` for every msisdn (index), from the snapshot tables.

    `keys` (from engine.facts.keys.snapshot_keys over the same msisdns) saves re-joining the tables.
    """
    config = config or SensitivityConfig()
    if keys is None:
        index = pd.Index(pd.unique(np.asarray(msisdns, dtype=object)), name="msisdn")
        keys = snapshot_keys({"subscriptions": subscriptions, "usage_monthly": usage_monthly}, as_of, index)
    return sensitivity_scores(keys.index, sensitivity_inputs(subscriptions, usage_monthly, keys, config), config)


@dataclass
class SensitivityInputs:
    """The formula's per-subscriber inputs of some subscribers (positions 0..n-1 of their index).

    `subscribed`: n × services (sorted weighted services) bool, Bᵢ; `used_at`, `used_service`,
    `used_days`: one entry per (subscriber, service) with days of use in M1 (> 0), in (position,
    service) order. Everything else of the formula (Dᵢ's bands among a service's users, the
    percentile rank) is base-wide: `sensitivity_scores` on the inputs of the whole base."""

    subscribed: np.ndarray
    used_at: np.ndarray
    used_service: np.ndarray
    used_days: np.ndarray


def _services(config: SensitivityConfig) -> list[str]:
    return sorted(set(config.subscription) | set(config.usage))


def sensitivity_inputs(subscriptions: pd.DataFrame, usage_monthly: pd.DataFrame, keys: SnapshotKeys,
                       config: SensitivityConfig) -> SensitivityInputs:
    """The per-subscriber inputs (Bᵢ, M1 days per service) of the subscribers of `keys`: each is
    made of the subscriber's own rows only, so a part of the base gives its part of the whole's."""
    services = _services(config)
    n, k = len(keys.index), len(services)
    b = np.zeros((n, k), dtype=bool)
    rows = keys.codes["subscriptions"]
    cols = positions(subscriptions["service"], services)
    ok = (rows >= 0) & (cols >= 0) & (subscriptions["status"].to_numpy() == "active")
    b[rows[ok], cols[ok]] = True

    rows = keys.codes["usage_monthly"]
    cols = positions(usage_monthly["service"], services)
    # Users are ranked within the base being scored, so only rows of msisdns in it count.
    ok = (rows >= 0) & (cols >= 0) & (keys.usage_month == USAGE_MONTH)
    if not ok.any():
        empty = np.zeros(0, dtype=np.int64)
        return SensitivityInputs(b, empty, empty, empty)
    pair = rows[ok].astype(np.int64) * k + cols[ok]
    # a subscriber's rows in file order: a part sums the same values in the same order as the whole
    uses = pd.Series(usage_monthly["active_days"].to_numpy()[ok]).groupby(pair).sum()
    uses = uses[uses > 0]
    pairs = uses.index.to_numpy()
    return SensitivityInputs(b, pairs // k, pairs % k, uses.to_numpy())


ROWS = 1 << 16  # subscribers whose B and D `sensitivity_scores` holds as float matrices at a time


def sensitivity_scores(index: pd.Index, inputs: SensitivityInputs, config: SensitivityConfig,
                       rows: int = ROWS) -> pd.DataFrame:
    """`sensitivity`, `sensitivity_pct`, `data_sensitive` (index `index`) from the whole base's
    inputs; B and D are made `rows` subscribers at a time (a multiple of 4: see below)."""
    services = _services(config)
    a = np.array([config.subscription.get(s, 0.0) for s in services])
    c = np.array([config.usage.get(s, 0.0) for s in services])
    n = len(index)
    frequency = frequency_bands(inputs.used_service, inputs.used_days)  # Dᵢ of each entry
    score = np.empty(n)
    # B and D as float matrices a block of rows at a time: whole, they were 2 × 8 B per
    # subscriber and service (~160 B a subscriber, 480 MB at 3M). Blocks start at multiples of
    # `rows` (of the BLAS kernels' row groups of 4), so each row's sum is the whole matrix's, bit
    # for bit (tests/engine/scoring/test_sensitivity.py; 3M random rows checked by hand).
    bounds = np.searchsorted(inputs.used_at, np.arange(0, n + rows, rows)) if n else []
    for k, start in enumerate(range(0, n, rows)):
        b = inputs.subscribed[start:start + rows].astype(float)
        d = np.zeros((len(b), len(services)))
        lo, hi = bounds[k], bounds[k + 1]
        d[inputs.used_at[lo:hi] - start, inputs.used_service[lo:hi]] = frequency[lo:hi]
        score[start:start + len(b)] = b @ a + d @ c
        del b, d
    max_score = a.sum() + c.sum()
    normalised = np.round(score / max_score, SCORE_DECIMALS) if max_score > 0 else np.zeros(n)
    sensitivity = pd.Series(normalised, index=index, name="sensitivity")
    pct = percentile_rank(sensitivity)
    return pd.DataFrame({
        "sensitivity": sensitivity,
        "sensitivity_pct": pct,
        "data_sensitive": pct >= 100.0 * (1.0 - config.sensitive_share),
    }, index=index)


def _weights(doc: YamlDoc, key: str, problems: list) -> dict[str, float]:
    raw = doc.data.get(key)
    if not isinstance(raw, dict) or not raw:
        problems.append(doc.error("MD020", f"'{key}' must map service ids to weights", key))
        return {}
    out = {}
    for service, weight in raw.items():
        if service not in SERVICE_IDS:
            problems.append(doc.error("MD021", f"unknown service '{service}'", key, service,
                                      hint=did_you_mean(str(service), SERVICE_IDS)))
        elif isinstance(weight, bool) or not isinstance(weight, (int, float)) or weight < 0:
            problems.append(doc.error("MD022", f"weight of '{service}' must be a number ≥ 0, got {weight!r}", key, service))
        else:
            out[service] = float(weight)
    return out


def _ahp_weights(doc: YamlDoc, key: str, problems: list) -> dict[str, float]:
    try:
        result = ahp_from_doc(doc, key)
    except DiagnosticError as exc:
        problems.extend(exc.diagnostics)
        return {}
    for name in result.criteria:
        if name not in SERVICE_IDS:
            problems.append(doc.error("MD021", f"unknown service '{name}'", key, "criteria",
                                      hint=did_you_mean(name, SERVICE_IDS)))
    if not result.consistent:
        problems.append(inconsistency_diagnostic(result, doc, key))
    return result.weights


def load_sensitivity_config(path: str | Path) -> SensitivityConfig:
    """Read a weights file (format in `sensitivity_from_doc`); DiagnosticError with lines on problems."""
    return sensitivity_from_doc(load_yaml(path))


def sensitivity_from_doc(doc: YamlDoc) -> SensitivityConfig:
    """Read a weights file: explicit weights, or AHP matrices plus the subscription/usage split.

    ```yaml
    subscription_weights: {fetion: 0.0898, reading: 0.05, ...}   # A
    usage_weights: {wlan: 0.0433, video: 0.07, ...}               # C
    sensitive_share: 0.2
    ```
    or
    ```yaml
    subscription_ahp: {criteria: [...], matrix: [[...], ...]}
    usage_ahp: {criteria: [...], matrix: [[...], ...]}
    subscription_share: 0.5     # A = share · w_A, C = (1 − share) · w_C
    ```
    """
    if not isinstance(doc.data, dict):
        raise DiagnosticError([doc.error("MD020", "a sensitivity weights file must be a mapping")])
    problems: list = []
    share = doc.data.get("sensitive_share", DEFAULT_SENSITIVE_SHARE)
    if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 < share < 1:
        problems.append(doc.error("MD023", f"'sensitive_share' must be between 0 and 1, got {share!r}", "sensitive_share"))
    if "subscription_ahp" in doc.data or "usage_ahp" in doc.data:
        split = doc.data.get("subscription_share", 0.5)
        if isinstance(split, bool) or not isinstance(split, (int, float)) or not 0 <= split <= 1:
            problems.append(doc.error("MD023", f"'subscription_share' must be between 0 and 1, got {split!r}", "subscription_share"))
            split = 0.5
        a = _ahp_weights(doc, "subscription_ahp", problems)
        c = _ahp_weights(doc, "usage_ahp", problems)
        a = {s: split * w for s, w in a.items()}
        c = {s: (1 - split) * w for s, w in c.items()}
    else:
        a = _weights(doc, "subscription_weights", problems)
        c = _weights(doc, "usage_weights", problems)
        if not problems and sum(a.values()) + sum(c.values()) <= 0:
            problems.append(doc.error("MD022", "all weights are zero"))
    if problems:
        raise DiagnosticError(problems)
    return SensitivityConfig(subscription=a, usage=c, sensitive_share=float(share))


SENSITIVITY_COLUMNS = {"subscription": "subscription_weights", "usage": "usage_weights"}


def sensitivity_file_text(config: SensitivityConfig, *, name: str = "custom", title: str = "",
                          status: str = "draft") -> str:
    """The weights in the rules/sensitivity.yaml format (schema kind `sensitivity`), services sorted."""
    import yaml

    body = {
        "sensitivity": name,
        "title": title or "数据业务敏感度权重 data-service sensitivity weights",
        "status": status,
        "sensitive_share": float(config.sensitive_share),
        "subscription_weights": {s: round(float(w), 6) for s, w in sorted(config.subscription.items())},
        "usage_weights": {s: round(float(w), 6) for s, w in sorted(config.usage.items())},
    }
    head = ("# yaml-language-server: $schema=../engine/content/schemas/sensitivity.schema.json\n"
            "# Written by `rekindle models ahp --write-sensitivity`; status draft: submit and approve it\n"
            "# (`rekindle rules submit sensitivity`, `rekindle rules approve sensitivity`) before production.\n")
    return head + yaml.safe_dump(body, allow_unicode=True, sort_keys=False)


def write_ahp_weights(weights: dict[str, float], path: str | Path, column: str) -> SensitivityConfig:
    """Put AHP weights into one column (`subscription` = Aᵢ or `usage` = Cᵢ) of a sensitivity file.

    The other column and `sensitive_share` are kept from the existing file (the Shaanxi defaults
    when there is none); every service id must be in the catalogue. The file is rewritten whole
    (temp file + rename) with status draft, so it needs approval again before production.
    """
    import os
    import tempfile

    if column not in SENSITIVITY_COLUMNS:
        raise DiagnosticError([Diagnostic("MD024", f"unknown column '{column}'", path="--column",
                                          hint="subscription (Aᵢ) or usage (Cᵢ)")])
    unknown = sorted(s for s in weights if s not in SERVICE_IDS)
    if unknown:
        raise DiagnosticError([Diagnostic("MD021", f"unknown service '{s}' in the AHP criteria", path="criteria",
                                          hint=did_you_mean(s, SERVICE_IDS)) for s in unknown])
    path = Path(path)
    name, title = "custom", ""
    if path.exists():
        doc = load_yaml(path)
        base = sensitivity_from_doc(doc)
        name = str(doc.data.get("sensitivity") or name)
        title = str(doc.data.get("title") or "")
    else:
        base = SensitivityConfig()
    new = SensitivityConfig(subscription=dict(weights) if column == "subscription" else dict(base.subscription),
                            usage=dict(weights) if column == "usage" else dict(base.usage),
                            sensitive_share=base.sensitive_share)
    text = sensitivity_file_text(new, name=name, title=title)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return new
