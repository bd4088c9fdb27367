"""The operator's value × stability settings 客户价值-稳定度 (seed 000): `rules/value_stability.yaml`.

One file the operator edits, content like rules/sensitivity.yaml (schema
engine/content/schemas/value_stability.schema.json, checks with line numbers in
engine.content.checks_models, draft → review → approved, its sha256 in every trace):

```yaml
value_stability: operator
status: approved
value:
  weights: {current_contribution: 0.35, ..., arrears: 0.10}   # Delphi 德尔菲 weights, relative
  tiers: {high: 0.2, mid: 0.4}      # shares of the base: top 20% high, next 40% mid
stability:
  tiers: model                     # the trained model's cut-offs, or {low: 0.12, mid: 0.05}
  indicators: [tenure_days, arpu, ..., handset_brand]   # what the model learns from (default: all)
retention:
  valuable: [high]                 # value tiers that count as valuable
  unstable: [low]                  # stability tiers that count as unstable
```

Value indicators and their meaning: engine.scoring.value. Stability tiers: `model` keeps the
cut-offs learned at training (riskiest 20% low, next 30% mid of the training rows); fixed
churn-risk cut-offs apply the same to every night (risk ≥ low → low, ≥ mid → mid, else high).
Stability indicators 稳定度指标: `stability.indicators` lists the features the stability model is
TRAINED on (`rekindle models train stability --data DIR`, which reads this file): any of
STABILITY_INDICATORS (engine.scoring.features: the core features and the optional ones such as
`circle_trend` or `handset_brand`). Optional indicators the training snapshot has no column for
drop out; the rest are used in the features' fixed order (the file's order does not matter, so
reordering the list trains the same model). Leaving the key out, or listing every indicator,
trains on all of them — the model the code trained before this setting existed. A night scores
with the features its stored model was trained on, so an edited list takes effect at the next
training. Unknown, repeated or no indicators are errors (MD057) at the offending line.
Every key is optional; what is left out keeps the default. `settings_hash` hashes the whole
settings, indicators included; the file's sha256 is in every trace like every content file's.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from engine.base.diagnostics import DiagnosticError, did_you_mean
from engine.base.yamlfile import YamlDoc, load_yaml
from engine.facts.fields import LEVELS
from engine.scoring.features import FEATURES, OPTIONAL_FEATURES
from engine.scoring.retention import RetentionConfig
from engine.scoring.value import VALUE_INDICATORS, ValueConfig

CODES = {"shape": "MD050", "indicator": "MD051", "weight": "MD052", "share": "MD053", "tier": "MD054", "cutoff": "MD055",
         "stability_indicator": "MD057"}
STABILITY_INDICATORS = (*FEATURES, *OPTIONAL_FEATURES)  # what `stability.indicators` may name, in training order
STABILITY_KEYS = ("tiers", "indicators")


@dataclass(frozen=True)
class ValueStabilityConfig:
    """Everything rules/value_stability.yaml sets; the defaults are the code's defaults."""

    value: ValueConfig = field(default_factory=ValueConfig)
    retention: RetentionConfig = field(default_factory=RetentionConfig)
    stability_cutoffs: tuple[float, float] | None = None  # (low, mid) churn risk; None = the model's
    # the stability model's training indicators, in STABILITY_INDICATORS order; None = all of them
    stability_indicators: tuple[str, ...] | None = None

    def stability_version(self, model_version: str) -> str:
        """The stability model's version as a trace shows it: the artefact, plus fixed cut-offs if any."""
        if self.stability_cutoffs is None:
            return model_version
        low, mid = self.stability_cutoffs
        return f"{model_version}+cutoffs:{low:g}/{mid:g}"


def _number(doc: YamlDoc, problems: list, value, *path, low=0.0, high=None, strict_low=False, code="weight"):
    ok = not isinstance(value, bool) and isinstance(value, (int, float))
    if ok:
        ok = (value > low if strict_low else value >= low) and (high is None or value <= high)
    if not ok:
        bound = f"{'>' if strict_low else '≥'} {low:g}" + (f" and ≤ {high:g}" if high is not None else "")
        problems.append(doc.error(CODES[code], f"'{'.'.join(map(str, path))}' must be a number {bound}, got {value!r}", *path))
        return None
    return float(value)


def _mapping(doc: YamlDoc, problems: list, *path) -> dict:
    node = doc.data
    for key in path:
        node = node.get(key) if isinstance(node, dict) else None
    if node is None:
        return {}
    if not isinstance(node, dict):
        problems.append(doc.error(CODES["shape"], f"'{'.'.join(path)}' must be a mapping", *path))
        return {}
    return node


def _value(doc: YamlDoc, problems: list) -> ValueConfig:
    default = ValueConfig()
    weights = dict(default.weights)
    raw = _mapping(doc, problems, "value", "weights")
    if raw:
        weights = {}
        for name, weight in raw.items():
            if name not in VALUE_INDICATORS:
                problems.append(doc.error(CODES["indicator"], f"unknown value indicator '{name}'", "value", "weights", name,
                                          hint=did_you_mean(str(name), VALUE_INDICATORS) or
                                          "known: " + ", ".join(VALUE_INDICATORS)))
                continue
            w = _number(doc, problems, weight, "value", "weights", name)
            if w is not None:
                weights[name] = w
        if weights and not any(weights.values()):
            problems.append(doc.error(CODES["weight"], "all value weights are zero", "value", "weights"))
    tiers = _mapping(doc, problems, "value", "tiers")
    high = _number(doc, problems, tiers.get("high", default.high_share), "value", "tiers", "high",
                   strict_low=True, high=1.0, code="share")
    mid = _number(doc, problems, tiers.get("mid", default.mid_share), "value", "tiers", "mid", high=1.0, code="share")
    if high is not None and mid is not None and high + mid > 1.0:
        problems.append(doc.error(CODES["share"], f"value tier shares high + mid must be at most 1, got {high + mid:g}",
                                  "value", "tiers"))
    if problems or not weights:
        return default
    return ValueConfig(weights=weights, high_share=high, mid_share=mid)


def _levels(doc: YamlDoc, problems: list, key: str, default: frozenset[str]) -> frozenset[str]:
    raw = _mapping(doc, problems, "retention").get(key)
    if raw is None:
        return default
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list) or not raw:
        problems.append(doc.error(CODES["tier"], f"'retention.{key}' must list tiers out of {', '.join(LEVELS)}",
                                  "retention", key))
        return default
    bad = [v for v in raw if v not in LEVELS]
    for i, v in enumerate(raw):
        if v in bad:
            problems.append(doc.error(CODES["tier"], f"unknown tier {v!r} in 'retention.{key}'", "retention", key, i,
                                      hint=did_you_mean(str(v), LEVELS) or "use high, mid or low"))
    return frozenset(raw) if not bad else default


def _cutoffs(doc: YamlDoc, problems: list) -> tuple[float, float] | None:
    raw = (doc.data.get("stability") or {}).get("tiers", "model") if isinstance(doc.data.get("stability"), dict) \
        else "model"
    if raw == "model":
        return None
    if not isinstance(raw, dict):
        problems.append(doc.error(CODES["cutoff"], "'stability.tiers' must be `model` or {low: RISK, mid: RISK}",
                                  "stability", "tiers"))
        return None
    low = _number(doc, problems, raw.get("low"), "stability", "tiers", "low", high=1.0, code="cutoff")
    mid = _number(doc, problems, raw.get("mid"), "stability", "tiers", "mid", high=1.0, code="cutoff")
    if low is None or mid is None:
        return None
    if mid > low:
        problems.append(doc.error(CODES["cutoff"], f"stability cut-off mid ({mid:g}) must not be above low ({low:g}): "
                                  "a riskier subscriber is less stable", "stability", "tiers"))
        return None
    return (low, mid)


def _indicators(doc: YamlDoc, problems: list) -> tuple[str, ...] | None:
    """`stability.indicators`: known names, each once, at least one; None = all (left out, or all listed)."""
    stability = doc.data.get("stability")
    if not isinstance(stability, dict) or "indicators" not in stability:
        return None
    raw = stability["indicators"]
    code = CODES["stability_indicator"]
    if not isinstance(raw, list) or not raw:
        problems.append(doc.error(code, "'stability.indicators' must list the indicators the stability model learns "
                                  "from (at least one)", "stability", "indicators",
                                  hint="e.g. [tenure_days, arpu, arpu_trend, circle_trend, arrears_6m]; "
                                       "leave the key out to train on all of them"))
        return None
    seen: set[str] = set()
    ok = True
    for i, name in enumerate(raw):
        if not isinstance(name, str) or name not in STABILITY_INDICATORS:
            problems.append(doc.error(code, f"unknown stability indicator {name!r}", "stability", "indicators", i,
                                      hint=did_you_mean(str(name), STABILITY_INDICATORS) or
                                      "known: " + ", ".join(STABILITY_INDICATORS)))
            ok = False
        elif name in seen:
            problems.append(doc.error(code, f"stability indicator '{name}' is listed twice", "stability", "indicators", i,
                                      hint="list each indicator once"))
            ok = False
        else:
            seen.add(name)
    if not ok or seen == set(STABILITY_INDICATORS):
        return None
    return tuple(name for name in STABILITY_INDICATORS if name in seen)


def unknown_stability_keys(doc: YamlDoc) -> list:
    """MD050 for each key of `stability` other than STABILITY_KEYS (a mistyped `indicators` would
    otherwise train on everything). `rekindle rules validate` reports them through the schema;
    training, which reads the file without it, calls this."""
    stability = doc.data.get("stability") if isinstance(doc.data, dict) else None
    if not isinstance(stability, dict):
        return []
    return [doc.error(CODES["shape"], f"unknown key 'stability.{key}'", "stability", key,
                      hint=did_you_mean(str(key), STABILITY_KEYS) or "use tiers or indicators")
            for key in stability if key not in STABILITY_KEYS]


def value_stability_from_doc(doc: YamlDoc) -> ValueStabilityConfig:
    """Read the settings (format in the module docstring); DiagnosticError with lines on problems."""
    if not isinstance(doc.data, dict):
        raise DiagnosticError([doc.error(CODES["shape"], "a value × stability settings file must be a mapping")])
    problems: list = []
    _mapping(doc, problems, "stability")
    value = _value(doc, problems)
    retention = RetentionConfig(valuable=_levels(doc, problems, "valuable", frozenset({"high"})),
                                unstable=_levels(doc, problems, "unstable", frozenset({"low"})))
    cutoffs = _cutoffs(doc, problems)
    indicators = _indicators(doc, problems)
    if problems:
        raise DiagnosticError(problems)
    return ValueStabilityConfig(value=value, retention=retention, stability_cutoffs=cutoffs,
                                stability_indicators=indicators)


def load_value_stability(path: str | Path) -> ValueStabilityConfig:
    return value_stability_from_doc(load_yaml(path))


def settings_hash(config: ValueStabilityConfig) -> str:
    """A short hash of the whole settings (for messages and tests)."""
    blob = json.dumps({"value": config.value.version(), "retention": config.retention.version(),
                       "cutoffs": config.stability_cutoffs,
                       **({"indicators": list(config.stability_indicators)} if config.stability_indicators else {})},
                      sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]
