"""Records: the EditCase/Probe schema, JSONL I/O and readers of the formats users already have."""

from .formats import FORMATS, Format, read_cases, register_format
from . import knowedit, mquake, readers, rippleedits  # noqa: E402,F401  (register the EasyEdit, ROME, RippleEdits, KnowEdit, MQuAKE formats)
from .jsonl import case_from_dict, iter_jsonl, read_jsonl, write_jsonl
from .schema import EXPECTS, SCHEMA, SPLITS, Condition, Edit, EditCase, Probe, Relation

__all__ = [
    "FORMATS", "Format", "register_format", "SCHEMA", "SPLITS", "EXPECTS", "Condition", "Edit", "EditCase", "Probe", "Relation",
    "case_from_dict", "iter_jsonl", "read_jsonl", "write_jsonl", "read_cases",
]
