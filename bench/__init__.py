"""callcue benchmarks: `python -m bench` runs them all (see docs/PERFORMANCE.md)."""
