"""`rekindle models ...` commands: AHP weights, train/score the stability model, list and show artefacts."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from cli.common import DbOption, JsonOption, as_of_date, fail
from engine.base.diagnostics import DiagnosticError

# engine.scoring pulls in scikit-learn and skops (seconds to import): each command imports what
# it needs when it runs, so `rekindle --help` and the other command groups stay fast.
DEFAULT_TEST_SIZE = 0.25  # engine.scoring.training.DEFAULT_TEST_SIZE; a test keeps the two equal

app = typer.Typer(no_args_is_help=True)
train_app = typer.Typer(no_args_is_help=True, help="Train a model on history.")
score_app = typer.Typer(no_args_is_help=True, help="Score a table with a stored model.")
app.add_typer(train_app, name="train")
app.add_typer(score_app, name="score")


def _as_of(value: str | None) -> date | None:
    if value is None:
        return None
    return as_of_date(value)


@app.command()
def ahp(matrix: Path = typer.Argument(..., help="YAML file with `criteria: [names]` and `matrix:` (full square matrix)"),
        as_json: bool = typer.Option(False, "--json", help="print weights, consistency_ratio, consistent as JSON"),
        write_sensitivity: Optional[Path] = typer.Option(
            None, "--write-sensitivity", help="write the weights into this sensitivity file (rules/sensitivity.yaml format)"),
        column: str = typer.Option("usage", "--column", help="which weights to replace: subscription (Aᵢ) or usage (Cᵢ)")) -> None:
    """AHP 层次分析法: weights from a pairwise comparison matrix, with the consistency ratio (CR < 0.1).

    Exits 1 when the matrix is inconsistent (CR ≥ 0.1); nothing is written then. With
    --write-sensitivity the weights replace one column of that file (status draft: approve it again).
    Example: rekindle models ahp usage_matrix.yaml --write-sensitivity rules/sensitivity.yaml --column usage
    """
    try:
        from engine.scoring.ahp import load_ahp_file

        result = load_ahp_file(matrix)
    except DiagnosticError as error:
        fail(error)
    if as_json:
        typer.echo(json.dumps(result.to_dict(), ensure_ascii=False, indent=2))
        if not result.consistent:
            raise typer.Exit(1)
        _write_sensitivity(result, write_sensitivity, column)
        return
    for name, weight in sorted(result.weights.items(), key=lambda kv: -kv[1]):
        typer.echo(f"{name:<20} {weight:.4f}")
    typer.echo(f"lambda_max = {result.lambda_max:.4f}  CI = {result.consistency_index:.4f}  "
               f"RI = {result.random_index:.2f}  CR = {result.consistency_ratio:.4f}")
    if result.consistent:
        typer.echo("consistent (CR < 0.1)")
    else:
        a, b, aij, ratio = result.most_inconsistent
        typer.echo(f"INCONSISTENT (CR >= 0.1): most inconsistent pair ({a}, {b}): "
                   f"a_ij = {aij:.4g} while the weights imply {ratio:.4g}; revisit that judgement")
        raise typer.Exit(1)
    _write_sensitivity(result, write_sensitivity, column, echo=True)


def _write_sensitivity(result, path: Path | None, column: str, echo: bool = False) -> None:
    if path is None:
        return
    from engine.scoring.sensitivity import write_ahp_weights

    try:
        write_ahp_weights(result.weights, path, column)
    except DiagnosticError as error:
        fail(error)
    if echo:
        typer.echo(f"wrote the {column} weights into {path} (status draft: submit and approve it)")


def _print_training(meta: dict) -> None:
    m = meta["metrics"]
    typer.echo(f"stored stability model {meta['version']} ({m['chosen_model']['model']}, "
               f"{meta['params']['calibration_method']} calibration)")
    if "indicators" in meta.get("source", {}):
        typer.echo(f"indicators (rules/value_stability.yaml): {', '.join(meta['source']['indicators'])}")
    typer.echo(f"held-out rows {m['test_rows']:,}  churn rate {m['churn_rate']:.3f}  ROC AUC {m['roc_auc']:.4f}  "
               f"(rule tree AUC {m['tree_roc_auc']:.4f})")
    typer.echo("alert list   size     coverage  hit rate  lift")
    for share, row in m["alert"].items():
        typer.echo(f"{share:>10} {row['list_size']:>7,}   {row['coverage']:.3f}     {row['hit_rate']:.3f}     {row['lift']:.2f}")
    agree = m["tree_agreement"]
    typer.echo(f"tree vs strong model: AUC on its top decile {agree['auc_vs_strong_top_decile']:.3f}, "
               f"spearman {agree['spearman']:.3f}")
    if "truth" in m:
        t = m["truth"]
        typer.echo(f"vs generator truth: spearman {t['spearman_vs_p_churn']:.3f}, AUC on truth draws "
                   f"{t['roc_auc_vs_truth_draws']:.4f} (truth itself {t['truth_roc_auc_vs_draws']:.4f})")
    typer.echo("rules:")
    for line in meta["rules"]:
        typer.echo(f"  {line}")


@train_app.command("stability")
def train_stability(
    data: Optional[Path] = typer.Option(None, "--data", help="snapshot directory with churn_labels"),
    as_of: Optional[str] = typer.Option(None, "--as-of", help="run date YYYY-MM-DD (with --data)"),
    table: Optional[Path] = typer.Option(None, "--table", help="CSV or Parquet file with features and a label"),
    label: Optional[str] = typer.Option(None, "--label", help="label column (true/false, yes/no, 1/0)"),
    id_column: Optional[str] = typer.Option(None, "--id", help="id column (not a feature)"),
    test_size: float = typer.Option(DEFAULT_TEST_SIZE, "--test-size", min=0.05, max=0.5, help="held-out share"),
    seed: int = typer.Option(0, "--seed", help="seed of the split and the model search"),
    low_share: float = typer.Option(0.2, "--low-share", help="riskiest share of training rows tiered stability=low"),
    mid_share: float = typer.Option(0.3, "--mid-share", help="next share tiered mid"),
    cutoffs: Optional[str] = typer.Option(None, "--cutoffs", help="fixed churn-risk cut-offs LOW,MID instead of shares "
                                          "(risk >= LOW -> low, >= MID -> mid, else high), e.g. 0.3,0.1"),
    refit: bool = typer.Option(True, "--refit/--no-refit", help="store a model refit on all rows after the held-out evaluation"),
    settings: Path = typer.Option(Path("rules/value_stability.yaml"), "--settings",
                                  help="with --data: the value × stability settings whose stability.indicators choose "
                                       "the features learned from (all of them when the file is absent)"),
    as_json: JsonOption = False,
) -> None:
    """Train the stability (churn risk 稳定度) model on a snapshot or on any tabular file.

    Examples: rekindle models train stability --data sample/ --as-of 2026-11-15
              rekindle models train stability --table telco.csv --label Churn --id customerID
    """
    params = {"test_size": test_size, "seed": seed, "low_share": low_share, "mid_share": mid_share, "refit": refit}
    if cutoffs is not None:
        try:
            low, mid = (float(v) for v in cutoffs.split(","))
        except ValueError:
            raise typer.BadParameter("write two numbers: LOW,MID (e.g. 0.3,0.1)", param_hint="--cutoffs") from None
        if not 0 <= mid <= low <= 1:
            raise typer.BadParameter("need 0 <= MID <= LOW <= 1", param_hint="--cutoffs")
        params["cutoffs"] = (low, mid)
    from engine.scoring import training

    try:
        if table is not None:
            if data is not None or not label or not id_column:
                raise typer.BadParameter("use either --table with --label and --id, or --data with --as-of")
            meta = training.train_stability_from_table(table, label, id_column, **params)
        elif data is not None and as_of is not None:
            meta = training.train_stability_from_snapshot(data, _as_of(as_of), settings=settings if settings.is_file() else None,
                                                          **params)
        else:
            raise typer.BadParameter("give --data DIR --as-of DATE, or --table FILE --label COL --id COL")
    except DiagnosticError as error:
        fail(error)
    if as_json:
        typer.echo(json.dumps(meta, ensure_ascii=False, indent=2))
    else:
        _print_training(meta)


@score_app.command("stability")
def score_stability(
    table: Path = typer.Option(..., "--table", help="CSV or Parquet file with the model's feature columns"),
    id_column: str = typer.Option(..., "--id", help="id column, written as `id`"),
    out: Path = typer.Option(..., "--out", help="output CSV: id,churn_risk,stability"),
    model: Optional[str] = typer.Option(None, "--model", help="model version (default: the latest)"),
) -> None:
    """Write id,churn_risk,stability for every row of a table with the latest (or --model) stability model."""
    try:
        from engine.scoring import training

        rows, meta = training.score_stability_table(table, id_column, out, model)
    except DiagnosticError as error:
        fail(error)
    typer.echo(f"scored {rows:,} rows with stability model {meta['version']} -> {out}")


def _key_metrics(meta: dict) -> str:
    m = meta.get("metrics", {})
    parts = []
    if m.get("roc_auc") is not None:
        parts.append(f"AUC {m['roc_auc']:.3f}")
    ten = m.get("alert", {}).get("10%")
    if ten:
        parts.append(f"10%: cov {ten['coverage']:.2f} hit {ten['hit_rate']:.2f}")
    return ", ".join(parts)


@app.command("list")
def list_models(as_json: bool = typer.Option(False, "--json")) -> None:
    """Stored model artefacts: name, version, created, key metrics, latest marker."""
    from engine.scoring import artefacts

    metas = artefacts.list_models()
    if as_json:
        typer.echo(json.dumps([{k: m.get(k) for k in ("name", "version", "created", "latest", "metrics")} for m in metas],
                              ensure_ascii=False, indent=2))
        return
    if not metas:
        typer.echo("no models stored yet; run `rekindle models train stability ...`")
        return
    grid = Table("name", "version", "created", "key metrics", "latest")
    for m in metas:
        grid.add_row(m["name"], m["version"], m["created"][:19], _key_metrics(m), "*" if m["latest"] else "")
    Console(width=140).print(grid)


@app.command()
def show(version: str = typer.Argument(..., help="model version (or a unique prefix)"),
         as_json: bool = typer.Option(False, "--json")) -> None:
    """Metadata, metrics and rule set of one stored model."""
    try:
        from engine.scoring import artefacts

        meta = artefacts.find_model(version)
    except DiagnosticError as error:
        fail(error)
    if as_json:
        typer.echo(json.dumps(meta, ensure_ascii=False, indent=2))
        return
    for key in ("name", "version", "sha256", "created", "data_fingerprint"):
        typer.echo(f"{key}: {meta.get(key)}")
    typer.echo(f"source: {json.dumps(meta.get('source', {}), ensure_ascii=False)}")
    typer.echo(f"features: {', '.join(f['name'] + ' (' + f['kind'] + ')' for f in meta.get('features', []))}")
    typer.echo(f"params: {json.dumps(meta.get('params', {}), sort_keys=True)}")
    typer.echo(f"stability cut-offs: {json.dumps(meta.get('stability_cutoffs', {}))}")
    metrics = {k: v for k, v in meta.get("metrics", {}).items() if k != "search"}
    typer.echo("metrics: " + json.dumps(metrics, indent=2))
    typer.echo("rules:")
    for line in meta.get("rules", []):
        typer.echo(f"  {line}")


@train_app.command("response")
def train_response_command(
    db: DbOption = None,
    seed: int = typer.Option(0, "--seed", help="seed of the held-out split and the models"),
    strategies: Path = typer.Option(Path("strategies"), "--strategies", help="strategy files (base_response baseline)"),
    as_json: bool = typer.Option(False, "--json", help="print the stored metadata as JSON"),
) -> None:
    """Learn propensity.<strategy> 响应模型 from stored decisions and loaded feedback, the holdout as control.

    Example: rekindle models train response
    """
    from engine.scoring.response_training import train_response

    try:
        meta = train_response(db, seed=seed, strategies_dir=strategies)
    except DiagnosticError as error:
        fail(error)
    if as_json:
        typer.echo(json.dumps(meta, ensure_ascii=False, indent=2, sort_keys=True))
        return
    m = meta["metrics"]
    typer.echo(f"stored response model {meta['version']} ({meta['method']})")
    typer.echo(f"rows {m['train_rows']:,}: treated {m['treated']:,} ({m['responses_treated']:,} responded), "
               f"control {m['control']:,} ({m['responses_control']:,} responded; control read by {m['control_model']})")
    typer.echo(f"held-out history: ROC AUC {m['roc_auc']} vs base_response {m['roc_auc_base_response']}; "
               f"uplift overall {m['uplift_overall']}, at k " + ", ".join(f"{k}: {v}" for k, v in m["uplift_at_k"].items()))
    for label, key in (("T-learner", ""), ("arbitration (uplift.<s>)", "_arbitration"), ("base_response", "_base_response")):
        typer.echo(f"  ranked by {label}: uplift at k " + ", ".join(f"{k}: {v}" for k, v in m[f"uplift_at_k{key}"].items())
                   + f"; Qini {m[f'qini{key}']}")
    measured = sorted(s for s, cell in meta["uplift"].items() if cell.get("source", "measured") == "measured")
    typer.echo(f"arbitration ranks on uplift.<s> for {len(meta['uplift'])} strategies (others: base_response); "
               f"the history moved base_response for {len(measured)}: {', '.join(measured) or 'none'} "
               "(the others' 95% intervals hold it)")
