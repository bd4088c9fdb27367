"""Read an operator's own tabular file (CSV or Parquet) for training or scoring the stability model.

Column kinds are inferred: a column whose non-blank cells all parse as numbers is numeric,
anything else is categorical. Blank (or whitespace-only) cells are missing values, never errors
— warehouse exports such as IBM Telco's `TotalCharges` hold blanks. Labels may be written
true/false, yes/no or 1/0 in any case; any other label value is an error naming its line.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from engine.base.diagnostics import Diagnostic, DiagnosticError, did_you_mean

NUMERIC = "numeric"
CATEGORICAL = "categorical"
TRUE_LABELS = ("true", "yes", "1", "1.0", "y", "t")
FALSE_LABELS = ("false", "no", "0", "0.0", "n", "f")
_SHOWN = 5  # bad cells named in one diagnostic before "and N more"


@dataclass(frozen=True)
class RawTable:
    """A file's cells as stripped strings (None = blank), plus where row i sits in the file."""

    file: str
    cells: pd.DataFrame
    csv: bool

    def line(self, row: int) -> int:
        """CSV physical line of data row `row` (header = line 1); Parquet: 1-based row number."""
        return row + 2 if self.csv else row + 1


def read_raw(path: str | Path) -> RawTable:
    """Read every cell as text; blanks become None. Raises DiagnosticError (MD030) if unreadable."""
    path = Path(path)
    try:
        if path.suffix.lower() == ".parquet":
            frame = pd.read_parquet(path)
            cells = frame.astype(object).where(frame.notna(), None)
            cells = cells.apply(lambda c: c.map(lambda v: None if v is None else str(v)))
            csv = False
        else:
            cells = pd.read_csv(path, dtype=str, keep_default_na=False, na_filter=False, encoding="utf-8-sig")
            csv = True
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise DiagnosticError([Diagnostic("MD030", f"cannot read table: {exc}", file=str(path),
                                          hint="give a UTF-8 CSV file with a header row, or a Parquet file")]) from None
    cells.columns = [str(c).strip() for c in cells.columns]
    stripped = cells.astype(object).apply(lambda c: c.str.strip())  # every cell is text (or None) here
    stripped = stripped.where(stripped.notna() & stripped.ne(""), None).astype(object)
    return RawTable(str(path), stripped.reset_index(drop=True), csv)


def require_columns(raw: RawTable, names: list[str], what: str) -> None:
    """Error naming each column that the file lacks."""
    missing = [n for n in names if n not in raw.cells.columns]
    if missing:
        raise DiagnosticError([
            Diagnostic("MD031", f"{what} column '{n}' is not in the file", file=raw.file, line=1 if raw.csv else None,
                       path=n, hint=did_you_mean(n, raw.cells.columns) or f"columns are: {', '.join(raw.cells.columns)}")
            for n in missing
        ])


def infer_kinds(raw: RawTable, columns: list[str]) -> dict[str, str]:
    """numeric when every non-blank cell parses as a number, else categorical."""
    kinds = {}
    for name in columns:
        col = raw.cells[name]
        parsed = pd.to_numeric(col, errors="coerce")
        ok = col.isna() | parsed.notna()
        kinds[name] = NUMERIC if bool(ok.all()) and col.notna().any() else CATEGORICAL
    return kinds


def typed_features(raw: RawTable, kinds: dict[str, str]) -> pd.DataFrame:
    """The feature columns typed by `kinds`: numeric float64 (NaN missing), categorical str/None.

    A non-numeric, non-blank cell in a column the model knows as numeric is an error with its line.
    """
    out = {}
    problems = []
    for name, kind in kinds.items():
        col = raw.cells[name]
        if kind == NUMERIC:
            parsed = pd.to_numeric(col, errors="coerce")
            bad = np.flatnonzero((col.notna() & parsed.isna()).to_numpy())
            for row in bad[:_SHOWN]:
                problems.append(Diagnostic("MD032", f"'{col.iloc[row]}' is not a number", file=raw.file,
                                           line=raw.line(int(row)), path=name, hint="leave the cell blank for a missing value"))
            out[name] = parsed.astype(float)
        else:
            out[name] = col.astype(object)
    if problems:
        raise DiagnosticError(problems)
    return pd.DataFrame(out, index=raw.cells.index)


def parse_labels(raw: RawTable, column: str) -> pd.Series:
    """0/1 labels from true/false, yes/no or 1/0 (any case); anything else is an error with line."""
    col = raw.cells[column].str.lower()
    is_true = col.isin(TRUE_LABELS)
    is_false = col.isin(FALSE_LABELS)
    bad = np.flatnonzero((~(is_true | is_false)).to_numpy())
    if len(bad):
        diags = [Diagnostic("MD033", f"label {raw.cells[column].iloc[r]!r} is not true/false, yes/no or 1/0",
                            file=raw.file, line=raw.line(int(r)), path=column,
                            hint="fix or remove the row") for r in bad[:_SHOWN]]
        if len(bad) > _SHOWN:
            diags.append(Diagnostic("MD033", f"... and {len(bad) - _SHOWN} more bad labels", file=raw.file, path=column))
        raise DiagnosticError(diags)
    return is_true.astype(int).rename(column)


def training_table(path: str | Path, label: str, id_column: str) -> tuple[pd.DataFrame, pd.Series, pd.Series, str]:
    """(features, labels, ids, file) from a tabular file: every column except label and id is a feature."""
    raw = read_raw(path)
    require_columns(raw, [id_column, label], "the")
    if label == id_column:
        raise DiagnosticError([Diagnostic("MD031", "the label and id columns must differ", file=raw.file, path=label)])
    features = [c for c in raw.cells.columns if c not in (label, id_column)]
    if not features:
        raise DiagnosticError([Diagnostic("MD031", "no feature columns besides the label and id", file=raw.file)])
    y = parse_labels(raw, label)
    if y.nunique() < 2:
        raise DiagnosticError([Diagnostic("MD034", f"label column '{label}' has only one class", file=raw.file, path=label,
                                          hint="training needs both churners and stayers")])
    ids = raw.cells[id_column].fillna("").astype(str)
    return typed_features(raw, infer_kinds(raw, features)), y, ids, raw.file


def scoring_table(path: str | Path, id_column: str, kinds: dict[str, str]) -> tuple[pd.DataFrame, pd.Series]:
    """(features typed as the model expects, ids) from a tabular file to score."""
    raw = read_raw(path)
    require_columns(raw, [id_column], "the id")
    require_columns(raw, list(kinds), "the model's feature")
    return typed_features(raw, kinds), raw.cells[id_column].fillna("").astype(str)
