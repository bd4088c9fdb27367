"""Targeted edits of top-level keys in YAML text, keeping every other line as the author wrote it.

Packs and strategies are hand-edited and kept in git, so tools that change one key (the
`status:` line on submit/approve, one field on `strategies edit`) must not re-dump the file:
that would drop comments, reorder keys and make a one-line change a whole-file diff. These
helpers replace only the lines of the key being changed.
"""

from __future__ import annotations

import re
from typing import Any, Sequence

import yaml

# A top-level key line: the key at column 0, a colon, then a space, a comment or the end.
_KEY_LINE = "^{key}[ \t]*:(?:[ \t]|$)"
# An unquoted one-line value followed by a comment; the comment is kept when the value changes.
_TRAILING_COMMENT = re.compile(r"^[^\s#:'\"][^:]*:[ \t]*[^#'\"\r\n]*?(?P<comment>[ \t]+#[^\r\n]*)$")


class _Dumper(yaml.SafeDumper):
    """Block style, except lists of plain values, which read best on one line: `reasons: [a, b]`."""


def _represent_list(dumper: yaml.SafeDumper, data: list) -> yaml.Node:
    flow = all(not isinstance(item, (list, dict)) for item in data)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flow)


_Dumper.add_representer(list, _represent_list)


def render_key(key: str, value: Any) -> str:
    """`key: value` as YAML lines (one-line lists of plain values, dates unquoted, Unicode kept)."""
    for allow_unicode in (True, False):
        text = yaml.dump({key: value}, Dumper=_Dumper, allow_unicode=allow_unicode, sort_keys=False,
                         default_flow_style=False, width=4096)
        # PyYAML writes a raw NEL (U+0085) that it then reads back as a space; escaped
        # output (allow_unicode=False) always reads back exactly.
        if yaml.safe_load(text) == {key: value}:
            break
    return text


def _lines(text: str) -> list[str]:
    """Lines ending in '\n' (kept). Not str.splitlines: that also splits on NEL, U+2028 and
    other characters that may sit inside a value, and would cut the value in two."""
    parts = text.split("\n")
    return [p + "\n" for p in parts[:-1]] + ([parts[-1]] if parts[-1] else [])


def _newline(text: str) -> str:
    return "\r\n" if "\r\n" in text else "\n"


def _continues_block(line: str) -> bool:
    """Does `line` belong to the value of the key above it (indented, or a col-0 list item)?"""
    if line.strip() == "":
        return False
    return line[0] in " \t" or line.startswith("- ") or line.rstrip("\r\n") == "-"


def key_block(lines: Sequence[str], key: str) -> tuple[int, int] | None:
    """(first, end) line indexes of the top-level `key` and its value, or None if absent.

    Blank lines inside the block count only when more of the value follows them, so the blank
    line that separates two keys stays outside.
    """
    pattern = re.compile(_KEY_LINE.format(key=re.escape(key)))
    for start, line in enumerate(lines):
        if not pattern.match(line):
            continue
        end = start + 1
        probe = end
        while probe < len(lines):
            if _continues_block(lines[probe]):
                probe += 1
                end = probe
            elif lines[probe].strip() == "":
                probe += 1
            else:
                break
        return start, end
    return None


def set_key(text: str, key: str, value: Any, after: Sequence[str] = ()) -> str:
    """`text` with the top-level `key` set to `value`; every other line unchanged.

    An existing key is replaced where it stands (keeping a trailing comment of a one-line value).
    A missing key is inserted after the last of `after` (the keys that precede it in the
    canonical order) that the file has, or at the end.
    """
    newline = _newline(text)
    lines = _lines(text)
    new_lines = [ln + newline for ln in render_key(key, value).split("\n")[:-1]]
    block = key_block(lines, key)
    if block is not None:
        start, end = block
        if end - start == 1 and len(new_lines) == 1:
            match = _TRAILING_COMMENT.match(lines[start].rstrip("\r\n"))
            if match:
                new_lines = [new_lines[0].rstrip("\r\n") + match.group("comment") + newline]
        return "".join(lines[:start] + new_lines + lines[end:])
    insert_at = None
    for previous in after:
        found = key_block(lines, previous)
        if found is not None:
            insert_at = found[1] if insert_at is None else max(insert_at, found[1])
    if insert_at is None:
        insert_at = len(lines)
    if insert_at > 0 and not lines[insert_at - 1].endswith(("\n", "\r")):
        lines[insert_at - 1] += newline
    return "".join(lines[:insert_at] + new_lines + lines[insert_at:])


def remove_key(text: str, key: str) -> str:
    """`text` without the top-level `key` and its value (no-op when absent)."""
    lines = _lines(text)
    block = key_block(lines, key)
    if block is None:
        return text
    start, end = block
    return "".join(lines[:start] + lines[end:])
