"""Input rules beyond the cell types (issue 11): what a snapshot cell may hold at all.

The contract (engine.snapshot.contract) says which type a column has; these rules keep hostile
or broken values out of the night before any of them can reach a contact list:

- **msisdn format** (DC030): every `msisdn` cell must match the operator's number pattern, by
  default mainland mobile numbers `1[3-9][0-9]{9}`. Set `REKINDLE_MSISDN_PATTERN` to another
  RE2 regular expression (Arrow's dialect; it is matched against the whole cell) for another
  numbering plan, e.g. `REKINDLE_MSISDN_PATTERN='86?1[3-9][0-9]{9}'`. An invalid pattern stops
  the load with DC039 naming the variable.
- **no control characters** (DC031): C0 controls (NUL, tab, CR, LF, escape, …) and DEL are refused
  in every text cell; they end up in call scripts and SMS bodies, and NUL truncates strings in
  the call-centre's systems.
- **cell length** (DC032): a text cell holds at most `MAX_CELL_CHARS` characters (1,000; a brand,
  plan or account-manager name is a few dozen). A line longer than the CSV reader's block
  (`MAX_LINE_BYTES`, 1 MiB) is refused with its line number before Arrow reads it (DC033), so a
  10 MB cell is a diagnostic, not an Arrow "straddling object" error.
- **non-negative numbers** (DC034): counts and amounts (`NON_NEGATIVE`) cannot be below zero;
  a negative ARPU or use count would silently change decisions.
- **duplicate headers** (DC008) are refused by the loader with both column positions.

Every check is vectorised over the Arrow column (regex, length, comparison); only the failing
rows become `Bad` entries, reported by the loader at file:line:column like every other cell.
The checks cost a base far less than the text they read: a column whose bytes hold no control
character and whose longest cell is short is passed by one numpy pass and one Arrow max, and the
msisdn pattern is matched per distinct number (a 1M base's 25M msisdn cells: 62 s -> seconds).
"""

from __future__ import annotations

import os

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from engine.base.diagnostics import Diagnostic, DiagnosticError
from engine.snapshot import contract
from engine.snapshot.cells import Bad, as_strings, mask
from engine.snapshot.contract import Column

MSISDN_PATTERN_ENV = "REKINDLE_MSISDN_PATTERN"
DEFAULT_MSISDN_PATTERN = "1[3-9][0-9]{9}"  # mainland China mobile numbers, 11 digits
MAX_CELL_CHARS = 1000
MAX_LINE_BYTES = 1 << 20  # Arrow's default CSV block size; a longer line cannot be parsed
CONTROL_CHARACTERS = r"[\x00-\x1f\x7f]"

# Counts and amounts: a negative value is a broken extract, never a fact about a subscriber.
NON_NEGATIVE = frozenset({"arpu", "arpu_6m_ago", "uses", "active_days", "traffic_mb", "paid_amount", "hot_rank",
                          # the optional value × stability columns of subscribers
                          "circle_size", "circle_size_6m_ago", "calls_monthly", "on_net_share",
                          "suspensions_6m", "arrears_6m", "payments_6m"})
SHARES = frozenset({"on_net_share"})  # a share is at most 1 (DC035)

BAD_MSISDN = "DC030"
CONTROL = "DC031"
TOO_LONG = "DC032"
LINE_TOO_LONG = "DC033"
NEGATIVE = "DC034"
ABOVE_ONE = "DC035"
BAD_PATTERN = "DC039"
DUPLICATE_HEADER = "DC008"

HINTS = {
    BAD_MSISDN: f"an msisdn is 11 digits like 13912345678 (pattern from {MSISDN_PATTERN_ENV})",
    CONTROL: "remove control characters (NUL, tab, line breaks) from the cell",
    TOO_LONG: f"a cell holds at most {MAX_CELL_CHARS} characters; check the export that wrote it",
    NEGATIVE: "counts and amounts cannot be negative; check the export that wrote it",
    ABOVE_ONE: "a share is a fraction between 0 and 1 (0.35, not 35)",
}


def msisdn_pattern() -> str:
    """The anchored msisdn pattern in force (REKINDLE_MSISDN_PATTERN or the default)."""
    raw = os.environ.get(MSISDN_PATTERN_ENV) or DEFAULT_MSISDN_PATTERN
    pattern = f"^(?:{raw})$"
    try:
        pc.match_substring_regex(pa.array(["0"]), pattern)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as error:
        raise DiagnosticError([Diagnostic(
            BAD_PATTERN, f"{MSISDN_PATTERN_ENV}={raw!r} is not a valid regular expression: {error}",
            hint=f"unset it for the default {DEFAULT_MSISDN_PATTERN!r}, or fix the pattern (RE2 syntax)",
        )]) from None
    return pattern


def _control_bytes(strings: pa.ChunkedArray) -> bool:
    """Might a cell hold a control character? False only when no byte of any cell is one.

    One numpy pass over the column's UTF-8 bytes (a control character is a single byte in UTF-8,
    and every byte of a multi-byte character is >= 0x80), so the usual clean column costs no
    regular expression at all; True sends the column to the regex, which finds the rows."""
    for chunk in strings.chunks:
        if len(chunk) == 0 or chunk.buffers()[2] is None:
            continue
        offsets = np.frombuffer(chunk.buffers()[1], dtype=np.int32)[chunk.offset:chunk.offset + len(chunk) + 1]
        data = np.frombuffer(chunk.buffers()[2], dtype=np.uint8)[offsets[0]:offsets[-1]]
        if (data < 0x20).any() or (data == 0x7F).any():
            return True
    return False


def check_cells(column: Column, values: pa.ChunkedArray, encoded=None) -> list[Bad]:
    """Rules on the raw text of one column: control characters, length, msisdn format.

    `encoded()`, when given, returns the column's dictionary encoding (the loader computes it
    once for the key checks and the compact column): the msisdn pattern is then matched once per
    distinct number, not once per row (18M usage rows hold 1M numbers)."""
    strings = as_strings(values)
    if strings is None:
        return []
    bad: list[Bad] = []
    control = long = None
    if _control_bytes(strings):
        control = mask(pc.match_substring_regex(strings, CONTROL_CHARACTERS))
        if control.any():
            bad.append(Bad(np.flatnonzero(control), "text without control characters", CONTROL))
    # a cell of more than MAX_CELL_CHARS characters has more than that many bytes: count characters only then
    if len(strings) and (pc.max(pc.binary_length(strings)).as_py() or 0) > MAX_CELL_CHARS:
        long = mask(pc.greater(pc.utf8_length(strings), MAX_CELL_CHARS))
        if long.any():
            bad.append(Bad(np.flatnonzero(long), f"at most {MAX_CELL_CHARS} characters", TOO_LONG))
    if column.name == "msisdn":
        coded = encoded() if encoded is not None and pa.types.is_string(values.type) \
            else pc.dictionary_encode(strings.combine_chunks())
        words = coded.dictionary
        # empty cells are DC020 (the cell typing), not a wrong number
        wrong_word = ~mask(pc.match_substring_regex(words, msisdn_pattern())) & mask(pc.not_equal(words, ""))
        index = pc.fill_null(coded.indices, -1).to_numpy(zero_copy_only=False)
        wrong = np.append(wrong_word, False)[index]  # a null cell (-1) is not a wrong number either
        for other in (control, long):
            if other is not None:
                wrong &= ~other
        if wrong.any():
            bad.append(Bad(np.flatnonzero(wrong), "an msisdn (11-digit mobile number)", BAD_MSISDN))
    return bad


def check_values(column: Column, typed: object) -> list[Bad]:
    """Rules on the typed values of one column: non-negative counts and amounts."""
    if column.name not in NON_NEGATIVE or column.kind not in (contract.INT, contract.FLOAT):
        return []
    numbers = np.asarray(typed, dtype=np.float64)
    bad = []
    negative = numbers < 0
    if negative.any():
        bad.append(Bad(np.flatnonzero(negative), "a number of zero or more", NEGATIVE))
    above = numbers > 1 if column.name in SHARES else None
    if above is not None and above.any():
        bad.append(Bad(np.flatnonzero(above), "a share between 0 and 1", ABOVE_ONE))
    return bad


def long_lines(data: bytes, limit: int = MAX_LINE_BYTES) -> list[int]:
    """1-based numbers of the lines of `data` longer than `limit` bytes (vectorised)."""
    text = np.frombuffer(data, dtype=np.uint8)
    ends = np.append(np.flatnonzero(text == 10), len(text))
    starts = np.append(0, ends[:-1] + 1)
    return [int(n) + 1 for n in np.flatnonzero(ends - starts > limit)]
