"""Stage 7, what people read from stored runs: explain (why / why not), audit verify and replay,
channel exports, rules diff, reports, and one subscriber's facts.

May import: every stage before it.
"""
