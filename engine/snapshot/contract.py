"""The input data contract (SPEC §2): which tables a snapshot has, their columns, types and keys.

This module is plain data. The loader validates against it, the generator writes to it,
and the documentation is printed from it, so there is one place where the contract lives.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Column kinds. Each has one parser in engine.snapshot.loader.
STRING = "string"
DATE = "date"  # ISO YYYY-MM-DD
MONTH = "month"  # YYYY-MM
FLOAT = "float"
INT = "int"
BOOL = "bool"  # true/false, also 1/0
ENUM = "enum"
TAGS = "tags"  # '|'-separated, may be empty

OS_VALUES = ("android", "ios", "harmony", "symbian", "windows_phone", "feature")
BILLING_VALUES = ("monthly", "per_use", "free")
STATUS_VALUES = ("active", "suspended", "cancelled")
LIST_VALUES = ("dnd", "red", "black", "dual_sim", "card_farming")
CHANNEL_VALUES = ("sms", "mms", "wap_push", "outbound_call", "account_manager")

# Service ids of the operator's catalogue (rules/services.yaml carries names and activity rules).
SERVICE_IDS = (
    "fetion",
    "mailbox139",
    "reading",
    "mobile_tv",
    "video",
    "ringtone",
    "game",
    "wlan",
    "animation",
    "navigation",
    "newspaper",
    "music_club",
    "sms",
    "mms",
    "gprs",
)


@dataclass(frozen=True)
class Column:
    name: str
    kind: str
    nullable: bool = False  # may the cell be empty?
    values: tuple[str, ...] = ()  # allowed values for ENUM
    doc: str = ""
    optional: bool = False  # may the whole column be absent? (old snapshots load without it)


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...] = ()
    optional: bool = False
    doc: str = ""
    column_names: tuple[str, ...] = field(init=False)  # every column, optional ones included
    required_names: tuple[str, ...] = field(init=False)  # the columns every file must have

    def __post_init__(self) -> None:
        object.__setattr__(self, "column_names", tuple(c.name for c in self.columns))
        object.__setattr__(self, "required_names", tuple(c.name for c in self.columns if not c.optional))

    def present_in(self, header) -> "Table":
        """This table with only the columns a file has, when every missing one is optional
        (a missing required column stays, so the reader reports it)."""
        have = set(header)
        keep = tuple(c for c in self.columns if not c.optional or c.name in have)
        return self if len(keep) == len(self.columns) else Table(self.name, keep, self.key, self.optional, self.doc)

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)


def _c(name: str, kind: str = STRING, *, nullable: bool = False, values=(), doc: str = "",
       optional: bool = False) -> Column:
    return Column(name, kind, nullable, tuple(values), doc, optional)


# Optional `subscribers` columns of the value × stability model (客户价值-稳定度, seed 000;
# issue 10 §3). A snapshot may leave any of them out (old snapshots load and run as before);
# an empty cell means unknown for that subscriber. The models use the ones present
# (docs/MODELS.md). Counts are over the last six months up to --as-of unless said otherwise.
SUBSCRIBER_OPTIONAL = (
    _c("circle_size", INT, nullable=True, optional=True,
       doc="交往圈 calling circle: distinct numbers the subscriber called or was called by, last 3 months"),
    _c("circle_size_6m_ago", INT, nullable=True, optional=True,
       doc="the same count for the 3 months ending six months earlier (circle trend = circle_size / this)"),
    _c("calls_monthly", FLOAT, nullable=True, optional=True,
       doc="voice calls per month, last 3 months (with circle_size: how busy the circle is)"),
    _c("on_net_share", FLOAT, nullable=True, optional=True,
       doc="本网通话占比 share of voice calls with numbers on this network, last 3 months, 0..1"),
    _c("suspensions_6m", INT, nullable=True, optional=True, doc="停机 times the line was suspended, last 6 months"),
    _c("arrears_6m", INT, nullable=True, optional=True, doc="欠费 months the bill was in arrears, last 6 months"),
    _c("payments_6m", INT, nullable=True, optional=True, doc="缴费次数 payments (top-ups, bill payments), last 6 months"),
    _c("handset_brand", nullable=True, optional=True, doc="终端品牌 handset maker, e.g. 苹果, 华为, 小米 (free text)"),
)


TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        Table(
            "subscribers",
            (
                _c("msisdn"),
                _c("city"),
                _c("brand"),
                _c("plan"),
                _c("join_date", DATE),
                _c("arpu", FLOAT, doc="average monthly revenue, last 3 months"),
                _c("arpu_6m_ago", FLOAT),
                _c("contract_end", DATE, nullable=True, doc="empty = no contract"),
                _c("device_os", ENUM, values=OS_VALUES),
                _c("account_manager", nullable=True, doc="empty = none"),
                _c("preferences", TAGS, nullable=True),
                *SUBSCRIBER_OPTIONAL,
            ),
            key=("msisdn",),
        ),
        Table(
            "subscriptions",
            (
                _c("msisdn"),
                _c("service", ENUM, values=SERVICE_IDS),
                _c("billing", ENUM, values=BILLING_VALUES),
                _c("status", ENUM, values=STATUS_VALUES),
                _c("ordered_on", DATE),
                _c("bundled", BOOL),
            ),
            key=("msisdn", "service"),
        ),
        Table(
            "usage_monthly",
            (
                _c("msisdn"),
                _c("service", ENUM, values=SERVICE_IDS),
                _c("month", MONTH),
                _c("uses", INT),
                _c("active_days", INT),
                _c("traffic_mb", FLOAT),
                _c("paid_amount", FLOAT),
            ),
            key=("msisdn", "service", "month"),
        ),
        Table(
            "handset_changes",
            (
                _c("msisdn"),
                _c("changed_on", DATE),
                _c("old_os", ENUM, values=OS_VALUES),
                _c("new_os", ENUM, values=OS_VALUES),
            ),
            key=("msisdn", "changed_on"),
        ),
        Table(
            "contact_history",
            (
                _c("msisdn"),
                _c("service", ENUM, nullable=True, values=SERVICE_IDS),
                _c("pack"),
                _c("strategy"),
                _c("channel", ENUM, values=CHANNEL_VALUES),
                _c("contacted_on", DATE),
                _c("responded", BOOL, nullable=True),
                _c("converted", BOOL, nullable=True),
            ),
        ),
        Table(
            "lists",
            (
                _c("msisdn"),
                _c("list", ENUM, values=LIST_VALUES),
                _c("since", DATE),
            ),
            key=("msisdn", "list"),
        ),
        Table(
            "churn_labels",
            (
                _c("msisdn"),
                _c("churned", BOOL),
                _c("observed_on", DATE),
            ),
            key=("msisdn",),
            optional=True,
            doc="for training the stability model",
        ),
        Table(
            "content",
            (
                _c("content_id"),
                _c("service", ENUM, values=SERVICE_IDS),
                _c("title"),
                _c("tags", TAGS, nullable=True),
                _c("hot_rank", INT),
            ),
            key=("content_id",),
            optional=True,
        ),
    )
}
