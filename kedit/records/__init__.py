"""Records: the EditCase/Probe schema, JSONL I/O and readers of the formats users already have."""

from .formats import FORMATS, read_cases
from .jsonl import case_from_dict, iter_jsonl, read_jsonl, write_jsonl
from .schema import EXPECTS, SCHEMA, SPLITS, Condition, EditCase, Probe, Relation

__all__ = [
    "FORMATS", "SCHEMA", "SPLITS", "EXPECTS", "Condition", "EditCase", "Probe", "Relation",
    "case_from_dict", "iter_jsonl", "read_jsonl", "write_jsonl", "read_cases",
]
