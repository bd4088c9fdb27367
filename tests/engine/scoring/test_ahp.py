import numpy as np
import pytest

from engine.base.diagnostics import DiagnosticError
from engine.scoring.ahp import ahp_weights, load_ahp_file


def test_consistent_matrix_gives_exact_weights_and_zero_cr():
    # a_ij = w_i / w_j for w = (4, 2, 1)/7: perfectly consistent
    r = ahp_weights(["a", "b", "c"], [[1, 2, 4], [1 / 2, 1, 2], [1 / 4, 1 / 2, 1]])
    assert r.weights == pytest.approx({"a": 4 / 7, "b": 2 / 7, "c": 1 / 7}, abs=1e-9)
    assert r.lambda_max == pytest.approx(3.0, abs=1e-9)
    assert r.consistency_ratio == pytest.approx(0.0, abs=1e-9)
    assert r.consistent


def test_saaty_textbook_3x3():
    # The standard textbook example (1, 3, 5 / 1/3, 1, 3 / 1/5, 1/3, 1):
    # w ≈ (0.637, 0.258, 0.105), λmax ≈ 3.039, CI ≈ 0.019, CR ≈ 0.033 (RI = 0.58).
    r = ahp_weights(["x", "y", "z"], [[1, 3, 5], [1 / 3, 1, 3], [1 / 5, 1 / 3, 1]])
    assert [r.weights[k] for k in "xyz"] == pytest.approx([0.637, 0.258, 0.105], abs=0.001)
    assert r.lambda_max == pytest.approx(3.039, abs=0.001)
    assert r.consistency_index == pytest.approx(0.019, abs=0.001)
    assert r.consistency_ratio == pytest.approx(0.033, abs=0.01)
    assert r.random_index == 0.58 and r.consistent


def test_4x4_uses_saaty_random_index():
    # CR must be (λmax − n)/(n − 1)/RI with Saaty's RI(4) = 0.90; λmax checked against numpy.
    m = [[1, 5, 6, 7], [1 / 5, 1, 4, 6], [1 / 6, 1 / 4, 1, 4], [1 / 7, 1 / 6, 1 / 4, 1]]
    r = ahp_weights(list("abcd"), m)
    ev = np.linalg.eigvals(np.array(m)).real.max()
    assert r.lambda_max == pytest.approx(ev)
    assert r.consistency_ratio == pytest.approx((ev - 4) / 3 / 0.90)
    assert r.random_index == 0.90
    assert r.consistent == (r.consistency_ratio < 0.1)
    assert list(r.weights) == list("abcd") and sum(r.weights.values()) == pytest.approx(1.0)


def test_circular_judgements_are_inconsistent_and_name_a_pair():
    r = ahp_weights(["a", "b", "c"], [[1, 9, 1 / 9], [1 / 9, 1, 9], [9, 1 / 9, 1]])
    assert not r.consistent and r.consistency_ratio > 1
    a, b, aij, ratio = r.most_inconsistent
    assert {a, b} <= {"a", "b", "c"} and a != b


def test_pair_named_is_the_one_that_breaks_consistency():
    # consistent (w = 8:4:2:1) except the (b, d) judgement, which says 1/4 instead of 4
    m = np.array([[1, 2, 4, 8], [1 / 2, 1, 2, 1 / 4], [1 / 4, 1 / 2, 1, 2], [1 / 8, 4, 1 / 2, 1]])
    r = ahp_weights(list("abcd"), m)
    assert r.most_inconsistent[:2] == ("b", "d")


def _write(tmp_path, text):
    p = tmp_path / "m.yaml"
    p.write_text(text, encoding="utf-8")
    return p


def test_file_with_fraction_strings(tmp_path):
    p = _write(tmp_path, 'criteria: [x, y, z]\nmatrix:\n  - [1, 3, 5]\n  - ["1/3", 1, 3]\n  - ["1/5", "1/3", 1]\n')
    r = load_ahp_file(p)
    assert r.weights["x"] == pytest.approx(0.637, abs=0.001)


def test_non_reciprocal_rejected_with_file_and_line(tmp_path):
    p = _write(tmp_path, 'criteria: [x, y, z]\nmatrix:\n  - [1, 3, 5]\n  - ["1/3", 1, 3]\n  - ["1/5", 2, 1]\n')
    with pytest.raises(DiagnosticError) as e:
        load_ahp_file(p)
    d = e.value.diagnostics[0]
    assert d.code == "MD016" and d.file == str(p) and d.line == 5
    assert "not reciprocal" in d.message and "(y, z)" in d.message


@pytest.mark.parametrize("cell", ["0", "-2", '"abc"', "true"])
def test_non_positive_or_non_numeric_rejected(tmp_path, cell):
    p = _write(tmp_path, f"criteria: [x, y]\nmatrix:\n  - [1, {cell}]\n  - [1, 1]\n")
    with pytest.raises(DiagnosticError) as e:
        load_ahp_file(p)
    d = e.value.diagnostics[0]
    assert d.code == "MD014" and d.line == 3 and "(x, y)" in d.message


def test_non_square_rejected(tmp_path):
    p = _write(tmp_path, "criteria: [x, y, z]\nmatrix:\n  - [1, 2, 3]\n  - [1, 1]\n  - [1, 1, 1]\n")
    with pytest.raises(DiagnosticError) as e:
        load_ahp_file(p)
    d = e.value.diagnostics[0]
    assert d.code == "MD013" and d.line == 4 and "not square" in d.message


def test_fewer_rows_than_criteria_rejected(tmp_path):
    p = _write(tmp_path, "criteria: [x, y, z]\nmatrix:\n  - [1, 2, 3]\n")
    with pytest.raises(DiagnosticError) as e:
        load_ahp_file(p)
    assert e.value.diagnostics[0].code == "MD013"


def test_yaml_is_loaded_safely(tmp_path):
    p = _write(tmp_path, "criteria: !!python/object/apply:os.system ['echo hi']\nmatrix: [[1]]\n")
    with pytest.raises(DiagnosticError) as e:
        load_ahp_file(p)
    assert e.value.diagnostics[0].code == "MD001"


def test_duplicate_keys_are_refused_with_both_lines(tmp_path):
    p = _write(tmp_path, "criteria: [a, b]\nmatrix: [[1, 2], [0.5, 1]]\ncriteria: [c, d]\n")
    with pytest.raises(DiagnosticError) as e:
        load_ahp_file(p)
    d = e.value.diagnostics[0]
    assert (d.code, d.line) == ("MD001", 3)
    assert "criteria" in d.message and "1" in d.message
