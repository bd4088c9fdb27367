"""Sample operator generator: a realistic, seeded snapshot (SPEC §2) with its latent truth."""

from engine.generator.snapshot import build_tables, generate

__all__ = ["build_tables", "generate"]
