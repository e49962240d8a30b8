"""The Hugging Face dataset layout of a kedit benchmark: Arrow schemas, Parquet files, and the reader back.

Configs (each with one split, ``test``: knowledge-editing benchmarks are evaluation sets):

``edits`` — one row per edit case, the shape an EasyEdit / KnowEdit user feeds an editor::

    case_id, subject, relation_id, relation_template, target_true, target_new, prompt,
    reliability, generalization, locality,   # list<probe> each (the base splits)
    provenance                               # the case's provenance, a JSON string

``subject_replace``, ``reverse_relation``, ``one_hop``, ``other_relation``, ``distract_neighbor``,
``commonsense`` — one row per probe, with the case it belongs to repeated so a row stands alone::

    case_id, probe_index, subject, relation_id, relation_template, target_true, target_new,
    edit_prompt, prompt, answers, expect, foil, choices, conditions, provenance

A probe (a row above, or an element of ``reliability`` / ``generalization`` / ``locality``) is
``probe_index`` (its position among the case's probes in the source file, so the records round-trip
in order), ``prompt``, ``answers`` (list; gold first, then aliases), ``expect`` (``new`` / ``keep``),
``foil`` (string or null), ``choices`` (list or null; commonsense), ``conditions`` (list of
``{prompt, answers: list, triple: [subject, relation, object] or null}``) and ``provenance`` (a JSON
string, so arbitrary nested dicts never change the Arrow schema). Column types are fixed here and
never inferred from the data, so every export has the same schema whatever it holds.

Parquet files are ``data/<config>/test-00000-of-00001.parquet`` as ``datasets.push_to_hub`` names them.
``read_export`` turns such a folder (or one downloaded from the Hub) back into EditCases.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any, Iterable

import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import KeditError, RecordError
from .jsonl import case_from_dict, parse_json, printable
from .schema import SPLITS, EditCase

EDITS = "edits"
BASE_SPLITS = tuple(s for s, (group, _) in SPLITS.items() if group == "base")
PROBE_CONFIGS = tuple(s for s, (group, _) in SPLITS.items() if group != "base")
CONFIGS = (EDITS, *PROBE_CONFIGS)
SPLIT = "test"
MARKER = "kedit_export.json"  # in every export folder: what wrote it, its figures and the build history
EXPORT_FORMAT = "kedit.export/1"

_S = pa.string()
_LS = pa.list_(pa.string())
CONDITION = pa.struct([pa.field("prompt", _S), pa.field("answers", _LS), pa.field("triple", _LS)])
_PROBE_FIELDS = [
    pa.field("probe_index", pa.int32()),
    pa.field("prompt", _S),
    pa.field("answers", _LS),
    pa.field("expect", _S),
    pa.field("foil", _S),
    pa.field("choices", _LS),
    pa.field("conditions", pa.list_(CONDITION)),
    pa.field("provenance", _S),
]
PROBE = pa.struct(_PROBE_FIELDS)
_CASE_FIELDS = [pa.field(n, _S) for n in ("subject", "relation_id", "relation_template", "target_true", "target_new")]

MORE_EDIT = pa.struct([pa.field("prompt", _S), pa.field("subject", _S), pa.field("target_new", _S), pa.field("target_true", _S),
                       pa.field("relation", _S)])
EDITS_SCHEMA = pa.schema(
    [pa.field("case_id", _S), *_CASE_FIELDS, pa.field("prompt", _S)]
    + [pa.field(s, pa.list_(PROBE)) for s in BASE_SPLITS]
    + [pa.field("more_edits", pa.list_(MORE_EDIT)), pa.field("provenance", _S)]
)
PROBE_SCHEMA = pa.schema(
    [pa.field("case_id", _S), _PROBE_FIELDS[0], *_CASE_FIELDS, pa.field("edit_prompt", _S), *_PROBE_FIELDS[1:]]
)


def schema_of(config: str) -> pa.Schema:
    return EDITS_SCHEMA if config == EDITS else PROBE_SCHEMA


def data_dir(config: str) -> str:
    return f"data/{config}"


def data_file(config: str) -> str:
    return f"{data_dir(config)}/{SPLIT}-00000-of-00001.parquet"


def _json(d: dict[str, Any]) -> str:
    return json.dumps(d, ensure_ascii=False)


def _probe_row(index: int, p) -> dict[str, Any]:
    return {
        "probe_index": index,
        "prompt": p.prompt,
        "answers": list(p.answers),
        "expect": p.expect,
        "foil": p.foil,
        "choices": list(p.choices) if p.choices is not None else None,
        "conditions": [
            {"prompt": c.prompt, "answers": list(c.answers), "triple": list(c.triple) if c.triple else None}
            for c in p.conditions
        ],
        "provenance": _json(p.provenance),
    }


def _case_cols(c: EditCase) -> dict[str, Any]:
    return {
        "subject": c.subject,
        "relation_id": c.relation.id,
        "relation_template": c.relation.template,
        "target_true": c.target_true,
        "target_new": c.target_new,
    }


def build_tables(cases: Iterable[EditCase]) -> dict[str, pa.Table]:
    """Every config's table (empty ones included), built in memory with the fixed schemas."""
    rows: dict[str, list[dict[str, Any]]] = {cfg: [] for cfg in CONFIGS}
    for c in cases:
        base = _case_cols(c)
        edit = {"case_id": c.case_id, **base, "prompt": c.prompt, **{s: [] for s in BASE_SPLITS},
                "more_edits": [vars(e) for e in c.more_edits], "provenance": _json(c.provenance)}
        for i, p in enumerate(c.probes):
            if p.split in BASE_SPLITS:
                edit[p.split].append(_probe_row(i, p))
            else:
                rows[p.split].append({"case_id": c.case_id, **base, "edit_prompt": c.prompt, **_probe_row(i, p)})
        rows[EDITS].append(edit)
    return {cfg: pa.Table.from_pylist(r, schema=schema_of(cfg)) for cfg, r in rows.items()}


def features_of(config: str):
    """The ``datasets.Features`` of a config (imported lazily: datasets is slow to import)."""
    from datasets import Features

    return Features.from_arrow_schema(schema_of(config))


def write_tables(tables: dict[str, pa.Table], folder: Path) -> dict[str, dict[str, int]]:
    """Parquet for every config with rows; returns {config: {num_examples, num_bytes, download_size}}."""
    stats = {}
    for cfg, table in tables.items():
        if table.num_rows == 0:
            continue
        path = folder / data_file(cfg)
        path.parent.mkdir(parents=True, exist_ok=True)
        # the schema carries the `huggingface` features metadata, as datasets writes it
        table = table.replace_schema_metadata(features_of(cfg).arrow_schema.metadata)
        pq.write_table(table, path)
        stats[cfg] = {"num_examples": table.num_rows, "num_bytes": table.nbytes, "download_size": path.stat().st_size}
    return stats


def _provenance(r: dict[str, Any], where: str, field: str = "provenance") -> Any:
    return parse_json(r["provenance"], where, None, field) if r.get("provenance") else {}


def _probe_dict(split: str, r: dict[str, Any], where: str) -> dict[str, Any]:
    """The kedit probe dict of a row (or a base-split element); its types are left to ``case_from_dict``."""
    d = {"split": split, "prompt": r["prompt"], "answers": r["answers"], "expect": r["expect"],
         "conditions": [{k: v for k, v in c.items() if v is not None} if c is not None else None
                        for c in r["conditions"] or []],
         "provenance": _provenance(r, where)}
    if r.get("foil") is not None:
        d["foil"] = r["foil"]
    if r.get("choices") is not None:
        d["choices"] = r["choices"]
    return d


def _rows(folder: Path, config: str) -> Iterable[tuple[str, dict[str, Any]]]:
    """(where: file and row, row) of a config's rows, each file checked against the config's schema."""
    schema = schema_of(config)
    for f in sorted((folder / data_dir(config)).glob("*.parquet")):
        try:
            table = pq.read_table(f)
        except (pa.ArrowException, OSError) as e:
            raise RecordError(f, None, "<file>", f"not a readable Parquet file ({printable(str(e))[:200]})") from None
        missing = [n for n in schema.names if n not in table.column_names]
        if missing:
            raise RecordError(f, None, missing[0], f"missing column (a {config} file has {', '.join(schema.names)})")
        if config == EDITS:
            table = _widened_more_edits(table)
        try:
            table = table.select(schema.names).cast(schema)
            table.validate(full=True)  # strings that are not UTF-8, among others
        except (pa.ArrowException, ValueError) as e:
            raise RecordError(f, None, "<file>", f"not a {config} table ({printable(str(e))[:200]})") from None
        for i, r in enumerate(table.to_pylist()):
            yield f"{f} row {i}", r


def _widened_more_edits(table: pa.Table) -> pa.Table:
    """An export of a kedit whose ``more_edits`` lacked a field (``relation`` came later): the field added, null."""
    t = table.schema.field("more_edits").type if "more_edits" in table.column_names else None
    if t is None or not (pa.types.is_list(t) and pa.types.is_struct(t.value_type)):
        return table
    have = {t.value_type.field(i).name for i in range(t.value_type.num_fields)}
    want = [MORE_EDIT.field(i).name for i in range(MORE_EDIT.num_fields)]
    if not have < set(want):
        return table
    rows = [None if v is None else [None if e is None else {n: e.get(n) for n in want} for e in v]
            for v in table.column("more_edits").to_pylist()]
    return table.set_column(table.column_names.index("more_edits"), "more_edits", pa.array(rows, pa.list_(MORE_EDIT)))


def _probe_index(r: dict[str, Any], where: str) -> int:
    if r.get("probe_index") is None:
        raise RecordError(where, None, "probe_index", "missing")
    return r["probe_index"]


def is_export(folder: str | Path) -> bool:
    """Whether ``folder`` holds a kedit export (its marker file, or an ``edits`` config)."""
    folder = Path(folder)
    return (folder / MARKER).is_file() or any((folder / data_dir(EDITS)).glob("*.parquet"))


def read_export(folder: str | Path) -> list[EditCase]:
    """The EditCases of an exported folder, probes in their original order, each validated as a JSONL line is."""
    folder = Path(folder)
    if not any((folder / data_dir(EDITS)).glob("*.parquet")):
        raise KeditError(f"{folder}: not a kedit export (no {data_dir(EDITS)}/*.parquet)")
    cases: dict[str, dict[str, Any]] = {}
    probes: dict[str, list[tuple[int, dict[str, Any]]]] = defaultdict(list)
    where: dict[str, str] = {}
    for f, r in _rows(folder, EDITS):
        cid = r["case_id"]
        if cid in cases:
            raise RecordError(f, None, "case_id", f"duplicate case_id '{printable(str(cid))}'")
        prov = _provenance(r, f)
        where[cid] = f
        cases[cid] = {"case_id": cid, "subject": r["subject"],
                      "relation": {"id": r["relation_id"], "template": r["relation_template"] or ""},
                      "target_true": r["target_true"], "target_new": r["target_new"], "prompt": r["prompt"],
                      "provenance": prov}
        if r.get("more_edits"):  # an export of an older kedit has no such column
            cases[cid]["more_edits"] = [{k: v for k, v in e.items() if v is not None} if isinstance(e, dict) else e
                                        for e in r["more_edits"]]
        for s in BASE_SPLITS:
            for j, p in enumerate(r[s] or []):
                if p is None:
                    raise RecordError(f, None, f"{s}[{j}]", "expected a probe, got null")
                probes[cid].append((_probe_index(p, f"{f} {s}[{j}]"), _probe_dict(s, p, f"{f} {s}[{j}]")))
    for cfg in PROBE_CONFIGS:
        for f, r in _rows(folder, cfg):
            if r["case_id"] not in cases:
                raise RecordError(f, None, "case_id", f"case '{printable(str(r['case_id']))}' is not in the {EDITS} config")
            probes[r["case_id"]].append((_probe_index(r, f), _probe_dict(cfg, r, f)))
    out = []
    for cid, d in cases.items():
        d["probes"] = [p for _, p in sorted(probes[cid], key=lambda ip: ip[0])]
        out.append(case_from_dict(d, where[cid], None))
    return out
