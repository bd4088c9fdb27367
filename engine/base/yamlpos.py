"""YAML loading that keeps positions: every key and value gets a (line, column), duplicates are errors.

Planners edit rule packs by hand, so every problem must point at a line. `load_yaml` composes
the node tree with a SafeLoader subclass, walks it once to record the 1-based mark of every
mapping key and every value under its JSON-pointer path (``/target/0/when``), reports duplicate
keys with both lines, and only then constructs plain Python data. YAML is never ``yaml.load``-ed
with an unsafe loader and nothing is evaluated.

Limits (RP005, issue 11): content files are typed by people, so anything far beyond what a
person writes is refused with a diagnostic before it can cost memory or a stack:

- ``MAX_CHARS`` characters of text (1,000,000; the largest shipped pack is ~9 KB);
- ``MAX_NODES`` nodes *after alias expansion* (100,000). Aliases are cheap for PyYAML, which
  shares the node, but every later reader (JSON Schema, checks, the compiler) walks the
  expanded tree: nine nested ``[*a, *a, …]`` lists are a billion nodes ("billion laughs").
  The composer counts each node as it is built and adds an alias's whole subtree size, so
  the bomb is refused after ~100,000 counted nodes, in milliseconds; an alias that points into
  itself (a recursive structure) is refused too;
- ``MAX_DEPTH`` levels of nesting (50). PyYAML's composer recurses once per level, so a
  1,000-level document would end in RecursionError; the depth is checked before descending.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from engine.base.diagnostics import Diagnostic

YAML_SYNTAX = "RP001"
DUPLICATE_KEY = "RP002"
TOO_LARGE = "RP005"

MAX_CHARS = 1_000_000
MAX_NODES = 100_000
MAX_DEPTH = 50


class LimitExceeded(yaml.MarkedYAMLError):
    """A content file beyond MAX_CHARS, MAX_NODES or MAX_DEPTH (or with a self-referencing alias)."""

    def __init__(self, problem: str, mark, hint: str):
        super().__init__(problem=problem, problem_mark=mark)
        self.hint = hint

Position = tuple[int, int]


class PositionLoader(yaml.SafeLoader):
    """SafeLoader whose timestamps degrade to strings instead of crashing on impossible dates.

    PyYAML resolves ``2026-13-01`` as a timestamp and then raises a bare ValueError while
    building it; keeping the text lets the semantic checks say "not a real date" with a line.
    """

    def construct_yaml_timestamp(self, node):  # noqa: D102 - PyYAML hook
        try:
            return super().construct_yaml_timestamp(node)
        except ValueError:
            return self.construct_scalar(node)


    def __init__(self, stream):
        super().__init__(stream)
        self._depth = 0
        self._expanded = 0  # nodes counted so far, aliases counted as their whole subtree
        self._sizes: dict[int, int] = {}  # id(node) -> expanded size, once the node is complete

    def _count(self, nodes: int, mark) -> None:
        self._expanded += nodes
        if self._expanded > MAX_NODES:
            raise LimitExceeded(
                f"more than {MAX_NODES:,} values once aliases are expanded", mark,
                "write the values out or split the file; a file may not expand to more than "
                f"{MAX_NODES:,} values")

    def compose_node(self, parent, index):  # noqa: D102 - PyYAML hook
        if self.check_event(yaml.AliasEvent):
            mark = self.peek_event().start_mark
            node = super().compose_node(parent, index)
            size = self._sizes.get(id(node))
            if size is None:  # the anchored node is still being built: the alias is inside it
                raise LimitExceeded("alias refers to the value that contains it", mark,
                                    "a value cannot contain itself; remove the alias")
            self._count(size, mark)
            return node
        mark = self.peek_event().start_mark
        if self._depth >= MAX_DEPTH:
            raise LimitExceeded(f"nested more than {MAX_DEPTH} levels deep", mark,
                                "flatten the structure; no content needs this many levels")
        self._depth += 1
        before = self._expanded
        self._count(1, mark)
        node = super().compose_node(parent, index)
        self._depth -= 1
        self._sizes[id(node)] = self._expanded - before
        return node


PositionLoader.add_constructor("tag:yaml.org,2002:timestamp", PositionLoader.construct_yaml_timestamp)


@dataclass
class LoadedYaml:
    """Plain data plus where each piece came from."""

    data: Any = None
    key_positions: dict[str, Position] = field(default_factory=dict)  # mapping keys (and list items)
    value_positions: dict[str, Position] = field(default_factory=dict)  # the value node of each path
    diagnostics: list[Diagnostic] = field(default_factory=list)


def pointer_token(key: Any) -> str:
    """One JSON-pointer reference token (RFC 6901 escaping of '~' and '/')."""
    return str(key).replace("~", "~0").replace("/", "~1")


def join_pointer(parent: str, key: Any) -> str:
    return f"{parent}/{pointer_token(key)}"


def _mark(node: yaml.Node) -> Position:
    return (node.start_mark.line + 1, node.start_mark.column + 1)


def _key_text(loader: PositionLoader, node: yaml.Node) -> Any:
    """The constructed key (for paths); unhashable or odd keys fall back to their source text."""
    if isinstance(node, yaml.ScalarNode):
        try:
            return loader.construct_object(node)
        except (yaml.YAMLError, ValueError, TypeError):
            return node.value
    return f"<{node.id} key>"


def _walk(loader: PositionLoader, root: yaml.Node, file: str, out: LoadedYaml) -> None:
    """Record positions for every path and report duplicate keys, without recursion limits."""
    seen: set[int] = set()  # aliased nodes are walked once: guards against alias bombs and cycles
    stack: list[tuple[yaml.Node, str]] = [(root, "")]
    out.key_positions[""] = _mark(root)
    out.value_positions[""] = _mark(root)
    while stack:
        node, path = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            first: dict[Any, int] = {}
            for key_node, value_node in node.value:
                key = _key_text(loader, key_node)
                if key == "<<" and key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                child = join_pointer(path, key)
                line, column = _mark(key_node)
                try:
                    hash(key)
                except TypeError:
                    key = repr(key)
                if key in first:
                    out.diagnostics.append(
                        Diagnostic(
                            DUPLICATE_KEY,
                            f"duplicate key '{key}' (first defined on line {first[key]}, again on line {line})",
                            file=file, line=line, column=column, path=child,
                            hint="keep one of them; YAML would silently use the last",
                        )
                    )
                    continue
                first[key] = line
                out.key_positions[child] = (line, column)
                out.value_positions[child] = _mark(value_node)
                stack.append((value_node, child))
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                child = join_pointer(path, index)
                out.key_positions[child] = _mark(item)
                out.value_positions[child] = _mark(item)
                stack.append((item, child))


def syntax_diagnostic(error: yaml.YAMLError, file: str) -> Diagnostic:
    """A YAML parser/constructor error as a diagnostic at the parser's mark."""
    mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
    problem = getattr(error, "problem", None) or str(error)
    context = getattr(error, "context", None)
    context_mark = getattr(error, "context_mark", None)
    if context and context_mark is not None and mark is not None and context_mark.line != mark.line:
        context += f" that starts on line {context_mark.line + 1}"
    message = f"invalid YAML: {problem}" + (f" ({context})" if context else "")
    line = mark.line + 1 if mark is not None else None
    column = mark.column + 1 if mark is not None else None
    return Diagnostic(
        YAML_SYNTAX, message, file=file, line=line, column=column,
        hint="check indentation, colons and quotes around this line",
    )


def load_yaml(text: str, file: str = "") -> LoadedYaml:
    """Parse one YAML document into plain data with positions and duplicate-key diagnostics.

    On a syntax error `data` is None and the diagnostics hold the error with its line.
    """
    out = LoadedYaml()
    if len(text) > MAX_CHARS:
        out.diagnostics.append(Diagnostic(
            TOO_LARGE, f"file has {len(text):,} characters, more than the {MAX_CHARS:,} allowed", file=file,
            line=1, column=1, hint="split it into smaller files; content files are written by people"))
        return out
    loader = PositionLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return out
        _walk(loader, node, file, out)
        out.data = loader.construct_document(node)
    except LimitExceeded as error:
        out.data = None
        mark = error.problem_mark
        out.diagnostics.append(Diagnostic(TOO_LARGE, f"refused: {error.problem}", file=file, line=mark.line + 1,
                                          column=mark.column + 1, hint=error.hint))
    except yaml.YAMLError as error:
        out.data = None
        out.diagnostics.append(syntax_diagnostic(error, file))
    except (ValueError, TypeError, OverflowError) as error:  # PyYAML constructors raise these bare
        out.data = None
        out.diagnostics.append(
            Diagnostic(YAML_SYNTAX, f"invalid YAML value: {error}", file=file, hint="quote the value if it is text")
        )
    finally:
        loader.dispose()
    return out
