"""The operator's model files as content: `rules/sensitivity.yaml` (数据业务敏感度 weights) and
`rules/value_stability.yaml` (客户价值-稳定度: value weights and tiers, stability cut-offs, the grid).

Like packs and segments, the file is planners' content: JSON Schema (engine/content/schemas/
sensitivity.schema.json) for its shape, the checks here for what a schema cannot say (known
service ids, weights ≥ 0 and not all zero, AHP consistency ratio < 0.1), each diagnostic at the
offending line; the draft → review → approved lifecycle and a `--production` run's approval
check (engine.content.approvals); its sha256 in every trace (engine.night.context.content_hashes
lists every loaded document). `sensitivity_config` turns the loaded document into the
SensitivityConfig a run scores with; without the file the defaults (the Shaanxi table) apply.
`value_stability_config` does the same for rules/value_stability.yaml (engine.scoring.value_stability).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.base.diagnostics import Diagnostic, DiagnosticError
from engine.base.yamlfile import YamlDoc
from engine.content.document import Content, Document

if TYPE_CHECKING:
    from engine.scoring.sensitivity import SensitivityConfig
    from engine.scoring.value_stability import ValueStabilityConfig


def _yaml_doc(doc: Document) -> YamlDoc:
    return YamlDoc(str(doc.path), doc.data, {**doc.positions, **doc.value_positions})


def check_sensitivity(_ctx, doc: Document) -> list[Diagnostic]:
    """Service ids, weights and AHP consistency of a sensitivity weights file."""
    from engine.scoring.sensitivity import sensitivity_from_doc  # numpy/pandas: only when there is such a file

    try:
        sensitivity_from_doc(_yaml_doc(doc))
    except DiagnosticError as error:
        return list(error.diagnostics)
    return []


def sensitivity_config(content: Content) -> SensitivityConfig | None:
    """The weights a run uses: from rules/sensitivity.yaml, None (the defaults) without it."""
    from engine.scoring.sensitivity import sensitivity_from_doc

    if content.sensitivity is None:
        return None
    return sensitivity_from_doc(_yaml_doc(content.sensitivity))


def check_value_stability(_ctx, doc: Document) -> list[Diagnostic]:
    """Indicator names, weights, tier shares, cut-off order and grid tiers of the value × stability file."""
    from engine.scoring.value_stability import value_stability_from_doc

    try:
        value_stability_from_doc(_yaml_doc(doc))
    except DiagnosticError as error:
        return list(error.diagnostics)
    return []


def value_stability_config(content: Content) -> ValueStabilityConfig | None:
    """The settings a run uses: from rules/value_stability.yaml, None (the defaults) without it."""
    from engine.scoring.value_stability import value_stability_from_doc

    if content.value_stability is None:
        return None
    return value_stability_from_doc(_yaml_doc(content.value_stability))


def data_services(content: Content) -> frozenset[str] | None:
    """Service ids the catalogue (rules/services.yaml) flags `data_service: true`; None without a catalogue."""
    if content.services is None:
        return None
    return frozenset(item["service"] for item in content.services.data.get("services") or []
                     if isinstance(item, dict) and item.get("data_service") is True and isinstance(item.get("service"), str))
