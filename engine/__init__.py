"""Rekindle engine: load → validate → facts → score → evaluate rules → arbitrate → store → explain/report.

Each stage is a module with one job; see docs/ARCHITECTURE.md for the map.
"""

__version__ = "0.1.0"
