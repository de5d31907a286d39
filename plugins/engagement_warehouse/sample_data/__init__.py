"""Deterministic sample data for every raw source, written into the lake as the real producers would.

`python -m engagement_warehouse.sample_data --lake-url file:///abs/.local/lake --users 200 --days 14 --seed 7`
or `generate(...)` from Python. See `generator.py` for the run order and `GenerationSummary` for the counts.
"""

from engagement_warehouse.sample_data.generator import DEFAULT_END_DATE, GenerationSummary, generate

__all__ = ["DEFAULT_END_DATE", "GenerationSummary", "generate"]
