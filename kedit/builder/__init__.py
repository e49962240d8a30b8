"""Benchmark construction stages: generate, filter, annotate, export (see ../shared/MISSION.md)."""
