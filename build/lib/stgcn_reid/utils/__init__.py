"""Helpers of the entry points: instantiation, atomic files, run reports, sweep summaries."""
