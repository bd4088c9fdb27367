"""The loop through the CLI: `data feedback`, `feedback load`, `report campaign`, `orders`, `models train response`."""

from __future__ import annotations

import csv
import io

from typer.testing import CliRunner

from auditrun import copy_db
from cli.main import app

runner = CliRunner()


def _invoke(*args: str):
    return runner.invoke(app, list(args))


def test_simulate_load_and_report_from_the_command_line(run, tmp_path):
    db = copy_db(run, tmp_path / "copy.db")
    first, second = tmp_path / "a.csv", tmp_path / "b.csv"
    for out in (first, second):
        result = _invoke("data", "feedback", "--data", str(run.inputs.data), "--run", run.run_id, "--out", str(out),
                         "--db", db)
        assert result.exit_code == 0, result.output
    assert first.read_bytes() == second.read_bytes()  # seeded: the same file every time
    assert first.read_text(encoding="utf-8").splitlines()[0] == "msisdn,run_id,service,channel,event,event_time,revenue"
    result = _invoke("feedback", "load", str(first), "--db", db)
    assert result.exit_code == 0 and "0 matched no decision" in result.output
    again = _invoke("feedback", "load", str(first), "--db", db)
    assert again.exit_code == 0 and " 0 events stored" in again.output
    result = _invoke("report", "campaign", "--run", run.run_id, "--format", "csv", "--db", db)
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    fixed = {"pack", "strategy", "channel", "treated", "control", "response_rate", "control_response_rate",
             "uplift", "uplift_low", "uplift_high"}
    assert rows and fixed <= set(rows[0])
    page = tmp_path / "campaign.html"
    result = _invoke("report", "campaign", "--from", run.inputs.as_of.isoformat(), "--to",
                     run.inputs.as_of.isoformat(), "--format", "html", "--out", str(page), "--db", db)
    assert result.exit_code == 0 and page.read_text(encoding="utf-8").count("<svg") == len(rows) + 1
    table = _invoke("report", "campaign", "--db", db)
    assert table.exit_code == 0 and "营销评估" in table.output and "Newcombe" in table.output
    both = _invoke("report", "campaign", "--run", run.run_id, "--from", "2026-11-01", "--db", db)
    assert both.exit_code == 2


def test_a_bad_feedback_file_is_refused_with_its_line(run, tmp_path):
    db = copy_db(run, tmp_path / "copy.db")
    path = tmp_path / "bad.csv"
    path.write_text("msisdn,run_id,service,channel,event,event_time\n1,r,,fax,delivered,2026-11-21\n", encoding="utf-8")
    result = _invoke("feedback", "load", str(path), "--db", db)
    assert result.exit_code == 1
    assert f"{path}:2:4: error[DC" in result.output and "channel" in result.output


def test_orders_from_list_to_handled(run, tmp_path):
    db = copy_db(run, tmp_path / "copy.db")
    listed = _invoke("orders", "list", "--run", run.run_id, "--csv", "--db", db)
    assert listed.exit_code == 0, listed.output
    orders = list(csv.DictReader(io.StringIO(listed.stdout)))
    assert orders and {o["state"] for o in orders} == {"accepted"}
    order = orders[0]["order_id"]
    assert _invoke("orders", "handle", order, "--result", "interested", "--by", "王强", "--db", db).exit_code == 1
    assert _invoke("orders", "review", order, "--by", "李娜", "--db", db).exit_code == 0
    result = _invoke("orders", "handle", order, "--result", "interested", "--by", "王强", "--note", "回访", "--db", db)
    assert result.exit_code == 0 and "handled" in result.output
    path = tmp_path / "cc.csv"
    path.write_text(f"order_id,state,result_code,note,by,at\n{orders[1]['order_id']},reviewed,,,李娜,2026-11-21\n",
                    encoding="utf-8")
    result = _invoke("orders", "import", str(path), "--db", db)
    assert result.exit_code == 0 and "1 state records appended" in result.output
    states = {o["order_id"]: o["state"] for o in csv.DictReader(io.StringIO(
        _invoke("orders", "list", "--run", run.run_id, "--csv", "--db", db).stdout))}
    assert (states[order], states[orders[1]["order_id"]]) == ("handled", "reviewed")


def test_training_the_response_model_without_history_says_what_to_do(run, tmp_path):
    db = copy_db(run, tmp_path / "copy.db")
    result = _invoke("models", "train", "response", "--db", db)
    assert result.exit_code == 1
    assert "MD050" in result.output and "feedback load" in result.output
