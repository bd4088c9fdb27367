"""The sample operator generator: contract-exact, deterministic, loadable, and realistic enough
that the playbooks' audiences, the churn signals and the campaign history are all there."""

from __future__ import annotations

import re
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
import typer
from typer.testing import CliRunner

from cli.generate import register
from engine.snapshot.contract import TABLES
from engine.base.diagnostics import DiagnosticError
from engine.generator import generate
from engine.snapshot.loader import load_snapshot

AS_OF = date(2026, 11, 20)
N = 4000
SEED = 11
STRATEGY_CHANNEL = {  # /tmp/strategies.txt: the team's fixed ids and channels
    "lts_sms_usage_tips": "sms", "lts_mms_hot_content": "mms", "lts_am_coaching": "account_manager",
    "sts_wap_client_app": "wap_push", "sts_sms_client_app": "sms", "sts_mms_client_guide": "mms",
    "mlu_wap_hot_content": "wap_push", "mlu_sms_usage_tips": "sms", "mlu_mms_hot_content": "mms",
    "ulu_am_contact": "account_manager", "ulu_wap_push_guide": "wap_push", "ulu_sms_guide": "sms", "ulu_mms_guide": "mms",
    "plu_sms_free_trial": "sms", "plu_call_monthly_upgrade": "outbound_call", "plu_wap_prize": "wap_push",
    "ret_call_plan_upgrade": "outbound_call", "ret_am_contract_offer": "account_manager",
    "ret_sms_family_plan": "sms", "ret_call_loyalty": "outbound_call",
}
CHANNELS = ("sms", "mms", "wap_push", "outbound_call", "account_manager")


@pytest.fixture(scope="module")
def csv_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("gen") / "csv"
    rows = generate(out, N, SEED, AS_OF)
    return out, rows


@pytest.fixture(scope="module")
def snap(csv_dir):
    return load_snapshot(csv_dir[0]).tables


@pytest.fixture(scope="module")
def facts(snap):
    """Per active subscription: uses in M0..M3, paid in M1..M3, order age, subscriber data spend."""
    months = [str(pd.Period(AS_OF, "M") - k) for k in range(4)]
    usage = snap["usage_monthly"]
    uses = usage.pivot_table(index=["msisdn", "service"], columns="month", values="uses", aggfunc="sum")
    subs = snap["subscriptions"].set_index(["msisdn", "service"])
    f = subs[subs["status"].eq("active")].join(uses.reindex(columns=months)).fillna({m: 0 for m in months})
    for k, m in enumerate(months):
        f[f"u{k}"] = f[m].astype(int)
    recent = usage[usage["month"].isin(months[1:])]
    f["paid3"] = recent.groupby(["msisdn", "service"])["paid_amount"].sum().reindex(f.index).fillna(0.0)
    f["ordered_days"] = (pd.Timestamp(AS_OF) - f["ordered_on"]).dt.days
    data = recent[(recent["service"].eq("gprs") & (recent["traffic_mb"] > 0))
                  | (~recent["service"].isin(["sms", "ringtone"]) & (recent["paid_amount"] > 0))]
    f["data_spend"] = f.index.get_level_values("msisdn").isin(set(data["msisdn"]))
    changes = snap["handset_changes"]
    last = changes.groupby("msisdn")["changed_on"].max()
    f["handset_days"] = (pd.Timestamp(AS_OF) - f.index.get_level_values("msisdn").map(last)).days
    return f.reset_index()


# --- contract and formatting ----------------------------------------------------------------

def test_every_table_has_exactly_the_contract_columns_and_loads_cleanly(csv_dir, snap):
    out, rows = csv_dir
    for name, table in TABLES.items():
        header = (out / f"{name}.csv").read_text(encoding="utf-8").split("\n", 1)[0]
        assert header.replace('"', "").split(",") == list(table.column_names), name
        assert rows[name] == len(snap[name]) > 0, name
    assert set(rows) == set(TABLES)


def test_csv_cells_follow_the_snapshot_formats(csv_dir):
    out, _ = csv_dir
    subs = pacsv.read_csv(out / "subscribers.csv", convert_options=pacsv.ConvertOptions(
        column_types={c: "string" for c in TABLES["subscribers"].column_names})).to_pandas()
    assert subs["msisdn"].str.fullmatch(r"1(3\d|5[0-35-9]|8\d)\d{8}").all()
    assert subs["msisdn"].is_unique and subs["msisdn"].is_monotonic_increasing
    assert subs["join_date"].str.fullmatch(r"\d{4}-\d{2}-\d{2}").all()
    assert subs["arpu"].str.fullmatch(r"\d+(\.\d{1,2})?").all()
    usage_text = (out / "usage_monthly.csv").read_text(encoding="utf-8").splitlines()[1:]
    cells = [line.split(",") for line in usage_text[:20000]]
    assert all(re.fullmatch(r"\d{4}-\d{2}", c[2]) for c in cells)
    assert all(re.fullmatch(r"\d+(\.\d{1,2})?", c[5]) and re.fullmatch(r"\d+(\.\d{1,2})?", c[6]) for c in cells)
    bundled = {line.rsplit(",", 1)[1] for line in (out / "subscriptions.csv").read_text().splitlines()[1:]}
    assert bundled == {"true", "false"}


def test_same_seed_gives_identical_bytes_and_another_seed_differs(tmp_path, csv_dir):
    out, _ = csv_dir
    again = tmp_path / "again"
    generate(again, N, SEED, AS_OF)
    files = sorted(p.relative_to(out) for p in out.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(again) for p in again.rglob("*") if p.is_file())
    assert "truth/churn.csv" in {str(p) for p in files}
    for rel in files:
        assert (out / rel).read_bytes() == (again / rel).read_bytes(), rel
    other = tmp_path / "other"
    generate(other, N, SEED + 1, AS_OF)
    assert (other / "subscribers.csv").read_bytes() != (out / "subscribers.csv").read_bytes()
    assert (other / "usage_monthly.csv").read_bytes() != (out / "usage_monthly.csv").read_bytes()


def test_parquet_holds_the_same_data_with_typed_columns(tmp_path, csv_dir, snap):
    out = tmp_path / "pq"
    generate(out, N, SEED, AS_OF, fmt="parquet")
    assert not list(out.glob("*.csv"))
    schema = pq.read_schema(out / "usage_monthly.parquet")
    assert [str(t) for t in schema.types] == ["string", "string", "string", "int64", "int64", "double", "double"]
    assert str(pq.read_schema(out / "subscribers.parquet").field("join_date").type) == "date32[day]"
    assert str(pq.read_schema(out / "churn_labels.parquet").field("churned").type) == "bool"
    from_parquet = load_snapshot(out).tables
    for name in TABLES:
        pd.testing.assert_frame_equal(from_parquet[name], snap[name], check_dtype=True, obj=name)
    assert (out / "truth" / "response.csv").read_bytes() == (csv_dir[0] / "truth" / "response.csv").read_bytes()


def test_parquet_output_is_byte_identical_for_the_same_arguments(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    generate(a, 300, 5, AS_OF, fmt="parquet")
    generate(b, 300, 5, AS_OF, fmt="parquet")
    for name in TABLES:
        assert (a / f"{name}.parquet").read_bytes() == (b / f"{name}.parquet").read_bytes(), name


# --- writing all or nothing -------------------------------------------------------------------

def test_a_previous_snapshot_is_replaced_whole_and_other_directories_are_refused(tmp_path):
    out = tmp_path / "snap"
    generate(out, 200, 1, AS_OF)
    generate(out, 200, 1, AS_OF, fmt="parquet")
    assert sorted(p.name for p in out.iterdir()) == sorted([f"{n}.parquet" for n in TABLES] + ["truth"])
    precious = tmp_path / "home"
    precious.mkdir()
    (precious / "notes.txt").write_text("keep me")
    with pytest.raises(DiagnosticError) as info:
        generate(precious, 200, 1, AS_OF)
    assert info.value.diagnostics[0].code == "DC101"
    assert [p.name for p in precious.iterdir()] == ["notes.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home", "snap"]  # no temporary leftovers


def test_cli_command_prints_rows_per_table_and_rejects_bad_input(tmp_path):
    app = typer.Typer()
    app.callback()(lambda: None)
    register(app)
    out = tmp_path / "cli"
    result = CliRunner().invoke(app, ["generate", "--subscribers", "300", "--seed", "3", "--as-of", "2026-11-20", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert re.search(r"usage_monthly\s+[\d,]+", result.output) and " s" in result.output
    assert (out / "subscribers.csv").exists()
    bad = CliRunner().invoke(app, ["generate", "--subscribers", "0", "--as-of", "2026-11-20", "--out", str(tmp_path / "x"), "--format", "xls"])
    assert bad.exit_code == 1
    assert "DC102" in bad.output and "DC103" in bad.output and "Traceback" not in bad.output


# --- realism: the playbooks' audiences are in the data ----------------------------------------

def _share(mask) -> float:
    return float(np.mean(mask))


def test_usage_rows_exist_only_for_activity_and_fees_and_traffic_are_where_they_belong(snap):
    usage = snap["usage_monthly"]
    assert ((usage["uses"] > 0) | (usage["traffic_mb"] > 0) | (usage["paid_amount"] > 0)).all()
    assert sorted(usage["month"].unique())[0] <= str(pd.Period(AS_OF, "M") - 6)  # >= 6 months before M0
    assert (usage["active_days"] <= 31).all() and (usage["active_days"] <= usage["uses"]).all()
    gprs = usage[usage["service"].eq("gprs") & (usage["uses"] > 0)]
    assert (gprs["traffic_mb"] > 0).all()
    subs = snap["subscriptions"]
    paying = subs[subs["billing"].eq("monthly") & ~subs["bundled"] & subs["status"].eq("active")
                  & (subs["ordered_on"] < pd.Timestamp(AS_OF) - pd.Timedelta(days=60))]
    m1 = usage[usage["month"].eq(str(pd.Period(AS_OF, "M") - 1))].set_index(["msisdn", "service"])["paid_amount"]
    fees = m1.reindex(pd.MultiIndex.from_frame(paying[["msisdn", "service"]])).fillna(0)
    assert (fees > 0).all()  # a monthly service that is not bundled is paid for every month
    free = subs[subs["billing"].eq("free")].set_index(["msisdn", "service"]).index
    assert usage.set_index(["msisdn", "service"]).loc[lambda u: u.index.isin(free), "paid_amount"].eq(0).all()


def test_all_behaviours_of_the_playbooks_are_present_in_sensible_shares(facts):
    f = facts
    monthly = f["billing"].eq("monthly")
    old = f["ordered_days"] >= 90
    silent3 = (f["u1"] == 0) & (f["u2"] == 0) & (f["u3"] == 0)
    low3 = (f[["u1", "u2", "u3"]].max(axis=1) < 3) & (f[["u1", "u2", "u3"]].sum(axis=1) > 0)
    long_silent = monthly & f["bundled"] & silent3 & old & f["data_spend"]
    assert 0.03 < _share(long_silent) < 0.25
    short_silent = monthly & (f["u1"] >= 3) & (f["u0"] == 0) & old
    after_change = short_silent & (f["handset_days"] <= 60)
    assert after_change.sum() >= 20 and _share(after_change[short_silent]) > 0.4
    low_monthly = monthly & old & f[["u1", "u2", "u3"]].isin([1, 2]).all(axis=1) & (f["u0"] == 0)
    assert 0.02 < _share(low_monthly) < 0.2
    unpaid = f["service"].isin(["mailbox139", "fetion"]) & f["billing"].isin(["free", "per_use"]) & low3 & (f["paid3"] == 0) & old
    assert unpaid.sum() >= 30
    paid = f["billing"].eq("per_use") & low3 & (f["paid3"] > 0) & old
    assert 0.01 < _share(paid) < 0.15
    assert 0.03 < _share(~old) < 0.2  # new orders
    steady = (f[["u1", "u2", "u3"]].min(axis=1) >= 3)
    assert _share(steady) > 0.3


def test_subscriber_attributes_are_plausible(snap):
    subs = snap["subscribers"]
    assert subs["city"].nunique() >= 8 and subs["city"].value_counts().index[0] == "西安"
    assert 3 <= subs["brand"].nunique() <= 4 and subs["plan"].nunique() >= 6
    assert set(subs["device_os"]) >= {"android", "ios", "harmony", "feature"}
    assert 0.03 < subs["account_manager"].notna().mean() < 0.08
    assert subs["account_manager"].dropna().str.startswith("客户经理").all()
    # managers serve the high-value subscribers
    assert subs.loc[subs["account_manager"].notna(), "arpu"].median() > 2 * subs["arpu"].median()
    end = subs["contract_end"]
    assert end.isna().any() and (end < pd.Timestamp(AS_OF)).any() and (end > pd.Timestamp(AS_OF)).any()
    tags = subs["preferences"].str.split("|").explode()
    assert {"小说", "体育", "音乐", "游戏", "影视"} <= set(tags)
    per_service = snap["subscriptions"]["service"].value_counts()
    assert len(per_service) == 15
    mix = snap["subscriptions"].groupby("service")["billing"].agg(set)
    assert mix["newspaper"] == {"monthly"} and "free" in mix["mailbox139"] and "per_use" in mix["game"]
    assert snap["subscriptions"].loc[snap["subscriptions"]["bundled"], "billing"].eq("monthly").all()


def test_lists_and_contact_history_look_like_an_operator_s(snap):
    n = len(snap["subscribers"])
    shares = snap["lists"]["list"].value_counts() / n
    assert set(shares.index) == {"dnd", "red", "black", "dual_sim", "card_farming"}
    assert shares.between(0.002, 0.04).all()
    contacts = snap["contact_history"]
    assert (contacts["strategy"].map(STRATEGY_CHANNEL) == contacts["channel"]).all()
    assert set(contacts["pack"]) == {"long_term_silent", "short_term_silent", "monthly_low_use",
                                     "unpaid_low_use", "paid_low_use", "retention"}
    assert set(contacts["strategy"]) == set(STRATEGY_CHANNEL)
    age = (pd.Timestamp(AS_OF) - contacts["contacted_on"]).dt.days
    assert age.between(0, 215).all() and (age <= 30).sum() > 0.05 * len(contacts)
    assert contacts.loc[contacts["pack"].eq("retention"), "service"].isna().all()
    assert contacts.loc[~contacts["pack"].eq("retention"), "service"].notna().all()
    known = contacts["responded"].dropna().astype(bool)
    assert 0.02 < known.mean() < 0.4
    assert not (contacts["converted"].fillna(False) & ~contacts["responded"].fillna(False)).any()
    assert contacts["responded"].isna().any()  # recent contacts: response window still open
    # account-manager contacts only for subscribers who have one
    managed = set(snap["subscribers"].dropna(subset=["account_manager"])["msisdn"])
    assert contacts.loc[contacts["channel"].eq("account_manager"), "msisdn"].isin(managed).all()


def test_churn_labels_follow_falling_arpu_and_missing_contracts(snap):
    labels = snap["churn_labels"].set_index("msisdn")
    assert (labels["observed_on"] == pd.Timestamp(AS_OF + timedelta(days=90))).all()
    churned = labels["churned"]
    assert 0.03 <= churned.mean() <= 0.08
    subs = snap["subscribers"].set_index("msisdn")
    falling = (subs["arpu"] / subs["arpu_6m_ago"] < 0.8).reindex(churned.index)
    assert churned[falling].mean() > 2 * churned[~falling].mean()
    end = subs["contract_end"].reindex(churned.index)
    no_contract = end.isna() | (end < pd.Timestamp(AS_OF))
    assert churned[no_contract].mean() > 1.5 * churned[~no_contract].mean()


def test_truth_files_describe_every_subscriber_and_active_subscription(csv_dir, snap):
    out, _ = csv_dir
    churn = pd.read_csv(out / "truth" / "churn.csv", dtype={"msisdn": str})
    assert list(churn.columns) == ["msisdn", "p_churn"] and churn["p_churn"].between(0, 1).all()
    assert churn["msisdn"].tolist() == snap["subscribers"]["msisdn"].tolist()
    resp = pd.read_csv(out / "truth" / "response.csv", dtype={"msisdn": str})
    assert list(resp.columns) == (["msisdn", "service", "behaviour", "p_respond_no_contact"]
                                  + [f"p_respond_{c}" for c in CHANNELS])
    active = snap["subscriptions"][snap["subscriptions"]["status"].eq("active")]
    per_service = resp.dropna(subset=["service"])
    assert len(per_service) == len(active)
    assert resp["service"].isna().sum() == len(snap["subscribers"])  # one retention row each
    probs = resp.filter(like="p_respond_")
    assert ((probs >= 0) & (probs <= 1)).all().all()
    # contact never makes a response less likely than doing nothing (except an absent manager)
    assert (resp["p_respond_sms"] >= resp["p_respond_no_contact"]).all()
    assert {"steady", "declining", "long_term_silent", "short_term_silent", "monthly_low_use",
            "unpaid_low_use", "paid_low_use", "new"} <= set(per_service["behaviour"])
