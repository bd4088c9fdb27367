"""Rekindle engine, one package per stage of the night, in data-flow order:

    snapshot → facts → scoring → content → rules → night (→ spark) → loop → outputs

beside two foundations every stage may use (`base`: diagnostics, home, YAML with positions,
canonical JSON; `store`: the database, its tables, the hash chain, the write and read sides)
and the sample-operator `generator`; last, the `console` (the audit web pages, reading what
the others wrote). A package may import only packages before it in
`engine.LAYERS`; tests/test_layout.py reads the imports and holds that. The map with each
package's job is docs/ARCHITECTURE.md.
"""

__version__ = "0.1.0"

# Import order, lowest first: a package may import itself and the packages before it, never one after.
LAYERS = ("base", "store", "snapshot", "facts", "scoring", "content", "rules", "night", "spark", "loop", "outputs",
          "generator", "console")
