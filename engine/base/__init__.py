"""Foundations every stage uses: diagnostics, REKINDLE_HOME, YAML with positions, YAML text edits.

May import: nothing else of the engine.
"""
