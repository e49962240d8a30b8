"""Records -> Label Studio tasks: one task per probe, with a stable id kept in the task's data.

Pushed splits (``PUSH_SPLITS``) are the ones a generator writes: generalization, locality and the
portability and fine-grained locality splits. ``reliability`` is the edit prompt itself and
``commonsense`` is an existing multiple-choice benchmark; neither needs a human check, so neither is
pushed (``--splits`` changes that).

The task id (``kedit_id``) is a hash of (case_id, split, prompt, answers): the same probe always
gets the same id, a corrected or regenerated probe gets a new one. Label Studio does not
deduplicate imports, so ``push`` lists the ids already in the project and imports only new ones.

What the annotator sees (``kedit.annotations.config``) comes from the task's data:

- ``badge``: the world to judge in: the EDITED world for ``expect: new`` probes (the edit is true),
  the REAL world for ``expect: keep`` probes (the edit is ignored);
- ``fact`` / ``triple``: the fact the question tests, readable: a ``keep`` probe shows its own fact
  (locality: the other subject's fact; distract_neighbor: the neighbour's question without the edit
  sentence put before it), never the counterfactual edit; a ``new`` probe shows the edit; a one-hop
  probe shows the chain edit -> hop -> answer, the hop being its condition triple
  ``(new_object, relation, answer)``. Relations are shown by their label (the KG's
  ``relations.jsonl``) or their template, never by a bare id such as ``P36``;
- ``evidence``: who generated the probe (KG triples with their source, or the LLM with its prompt
  version, or kedit / a hand-written source), the prerequisite question (the probe's conditions)
  and what the base-model filter found (``provenance.filter``: passed or failed, by which metric).

``view_head`` and ``view_evidence`` hold the same as escaped HTML for the ``HyperText`` tags; every
value from the records is escaped there.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from html import escape
from pathlib import Path
from typing import Any

from ..records.schema import EditCase, Probe

PUSH_SPLITS = ("generalization", "locality", "subject_replace", "reverse_relation", "one_hop", "other_relation",
               "distract_neighbor")
ID_FIELD = "kedit_id"

_EXPECT_TEXT = {"new": "must show the edit", "keep": "must keep the unedited answer"}
WORLD = {"new": "edited", "keep": "real"}
BADGE = {"edited": "judge in the EDITED world", "real": "judge in the REAL world"}
_BADGE_STYLE = {  # (background, text): amber for the counterfactual world, blue for the real one
    "edited": ("#fff1d6", "#8a4b00"),
    "real": ("#dcecff", "#0b4a8b"),
}
_FILTER_METRICS = {"teacher_forced_exact_match_any_alias": "teacher-forced exact match of any alias"}


def probe_key(case_id: str, split: str, prompt: str, answers: Sequence[str]) -> str:
    payload = json.dumps([case_id, split, prompt, list(answers)], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:24]


def key_of(case: EditCase, probe: Probe) -> str:
    return probe_key(case.case_id, probe.split, probe.prompt, probe.answers)


# -- readable names for KG ids -----------------------------------------------------------------

@dataclass(frozen=True)
class KGNames:
    """Relation labels and templates, entity names: a KG folder's ``relations.jsonl`` and ``entities.jsonl``."""

    relations: Mapping[str, tuple[str, str]] = field(default_factory=dict)  # id -> (label, template)
    entities: Mapping[str, str] = field(default_factory=dict)  # id -> name

    @classmethod
    def load(cls, folder: str | Path | None = None) -> KGNames:
        """The names of the KG in ``folder`` (default: the bundled ``data/kg``); empty where a file is missing."""
        from ..settings import data_root

        folder = Path(folder) if folder is not None else data_root() / "kg"
        return _load_names(str(folder.absolute()), *(_mtime(folder / f) for f in ("relations.jsonl", "entities.jsonl")))

    def relation_label(self, rid: str, template: str = "") -> str:
        """``capital_of`` -> "capital of"; an id the KG lacks (``P36``) -> its template, "The capital of _ is"."""
        if rid in self.relations and self.relations[rid][0]:
            return self.relations[rid][0]
        if template and "{}" in template:
            return template.replace("{}", "_").strip()
        if re.fullmatch(r"[A-Za-z]*\d+", rid or ""):  # a bare Wikidata-like id says nothing
            return f"relation {rid}"
        return (rid or "").replace("_", " ")

    def relation_template(self, rid: str) -> str:
        return self.relations[rid][1] if rid in self.relations else ""

    def entity(self, eid: Any) -> str:
        return self.entities.get(eid, eid) if isinstance(eid, str) else str(eid)


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return -1.0


@lru_cache(maxsize=4)  # keyed by the folder and its files' modification times
def _load_names(folder: str, *_mtimes: float) -> KGNames:
    from ..records.jsonl import iter_json_lines

    rels: dict[str, tuple[str, str]] = {}
    ents: dict[str, str] = {}
    path = Path(folder)
    if (path / "relations.jsonl").is_file():
        for _n, d in iter_json_lines(path / "relations.jsonl"):
            if isinstance(d, dict) and isinstance(d.get("id"), str):
                rels[d["id"]] = (str(d.get("label") or ""), str(d.get("template") or ""))
    if (path / "entities.jsonl").is_file():
        for _n, d in iter_json_lines(path / "entities.jsonl"):
            if isinstance(d, dict) and isinstance(d.get("id"), str) and isinstance(d.get("name"), str):
                ents[d["id"]] = d["name"]
    return KGNames(rels, ents)


# -- the fact a probe tests --------------------------------------------------------------------

@dataclass(frozen=True)
class Fact:
    """A statement shown to the annotator: the cloze or question, its answer, and its triple if known."""

    prompt: str
    answer: str
    triple: tuple[str, str, str] | None = None  # (subject, relation label, object), readable

    def text(self) -> str:
        return f"{self.prompt} -> {self.answer}" if self.prompt.rstrip().endswith("?") else f"{self.prompt} {self.answer}"

    def html(self) -> str:
        arrow = " &rarr; " if self.prompt.rstrip().endswith("?") else " "
        return f"{escape(self.prompt)}{arrow}<b>{escape(self.answer)}</b>"

    def triple_text(self) -> str:
        return f"({', '.join(self.triple)})" if self.triple else ""


def _first(values: Sequence[str]) -> str:
    return values[0] if values else ""


def edit_fact(case: EditCase, names: KGNames) -> Fact:
    label = names.relation_label(case.relation.id, case.relation.template)
    return Fact(case.prompt, case.target_new, (case.subject, label, case.target_new))


def hop_fact(probe: Probe, names: KGNames) -> Fact | None:
    """A one-hop probe's prerequisite, ``(new_object, relation, answer)``: the first condition with a triple."""
    cond = next((c for c in probe.conditions if c.triple), None)
    if cond is None:
        return None
    s, r, o = cond.triple
    return Fact(cond.prompt, _first(cond.answers) or o, (s, names.relation_label(r), o))


def _provenance(probe: Probe) -> dict[str, Any]:
    return probe.provenance if isinstance(probe.provenance, dict) else {}


def _kg_triples(prov: Mapping[str, Any], names: KGNames) -> list[tuple[str, str, str]]:
    """The provenance's KG triples, ids turned into names and labels (malformed entries skipped)."""
    out = []
    triples = prov.get("triples") if prov.get("generator") == "kg" else None
    for t in triples if isinstance(triples, list) else ():
        if isinstance(t, (list, tuple)) and len(t) == 3 and all(isinstance(x, str) and x for x in t):
            out.append((names.entity(t[0]), names.relation_label(t[1], names.relation_template(t[1])), names.entity(t[2])))
    return out


def neighbor_question(case: EditCase, probe: Probe) -> str:
    """A distract_neighbor prompt without the edit sentence kedit puts before it."""
    lead = f"{case.prompt} {case.target_new}."
    return probe.prompt[len(lead):].strip() if probe.prompt.startswith(lead) else probe.prompt


def tested_fact(case: EditCase, probe: Probe, names: KGNames) -> Fact:
    """The fact the annotator checks: the hop of a one-hop probe, the probe's own fact for a keep
    probe, the edit for the other new probes."""
    if probe.split == "one_hop":
        hop = hop_fact(probe, names)
        if hop is not None:
            return hop
    if probe.expect != "keep":
        return edit_fact(case, names)
    prov = _provenance(probe)
    answer = _first(probe.answers)
    prompt = neighbor_question(case, probe) if probe.split == "distract_neighbor" else probe.prompt
    kg = _kg_triples(prov, names)
    if kg:
        return Fact(prompt, answer, kg[0])
    relation = prov.get("relation")  # the LLM's other_relation names its relation
    if probe.split == "other_relation" and isinstance(relation, str) and relation.strip():
        return Fact(prompt, answer, (case.subject, names.relation_label(relation.strip()), answer))
    return Fact(prompt, answer)


# -- the evidence ------------------------------------------------------------------------------

def _scalar(v: Any) -> bool:
    return isinstance(v, (str, int, float, bool)) and not (isinstance(v, str) and not v.strip())


def generator_text(case: EditCase, probe: Probe, names: KGNames) -> str:
    """Who made the probe: KG triples and their source, the LLM and its prompt version, kedit, or the record's own words."""
    prov = _provenance(probe)
    gen = prov.get("generator")
    if gen == "kg":
        triples = _kg_triples(prov, names)
        sources = prov.get("sources")
        src = ", ".join(str(s) for s in sources if _scalar(s)) if isinstance(sources, list) else ""
        what = "; ".join(f"({', '.join(t)})" for t in triples) or "no triple recorded"
        return f"KG triples {what}" + (f" (source: {src})" if src else "")
    if isinstance(gen, str) and prov.get("prompt_version"):
        model = f" {prov['model']}" if _scalar(prov.get("model")) else ""
        key = prov.get("cache_key")
        cached = f", reply {str(key)[:12]} in the LLM cache" if _scalar(key) else ""
        return f"LLM{model} ({gen} backend), prompt {prov['prompt_version']}{cached}"
    if gen == "kedit":
        if probe.split == "distract_neighbor":
            other = prov.get("neighbor_case")
            return ("kedit: the edit sentence placed before the question of case "
                    f"{other if _scalar(other) else '?'} (its answer must not change)")
        return f"kedit: {prov.get('from') or prov.get('source') or 'built in'}"
    shown = [f"{k}: {v}" for k, v in prov.items() if k not in ("filter", "annotation") and _scalar(v)]
    return "; ".join(shown) if shown else "not recorded"


def prerequisite_texts(probe: Probe, names: KGNames) -> list[str]:
    out = []
    for c in probe.conditions:
        fact = Fact(c.prompt, " | ".join(c.answers))
        if c.triple:
            s, r, o = c.triple
            fact = Fact(c.prompt, " | ".join(c.answers), (s, names.relation_label(r), o))
        out.append(fact.text() + (f"   {fact.triple_text()}" if fact.triple else ""))
    return out


def filter_text(case: EditCase, probe: Probe) -> tuple[str, bool | None]:
    """What ``kbuild filter`` found for the probe (``provenance.filter``) and whether it passed (None: not run).

    The filter stores the verdict and its metric, not the base model's own answer."""
    f = _provenance(probe).get("filter")
    if not isinstance(f, dict) or not isinstance(f.get("passed"), bool):
        return "not checked (kbuild filter has not run on these records)", None
    model = f" {f['model']}" if _scalar(f.get("model")) else ""
    metric = _FILTER_METRICS.get(f.get("metric"), f.get("metric")) if _scalar(f.get("metric")) else "unknown metric"
    if f["passed"]:
        asked = "knows the prerequisite" if probe.conditions else "knows the edit's original fact"
        return f"{model.strip() or 'base model'}: passed, {asked} ({metric})", True
    reason = f.get("reason") if _scalar(f.get("reason")) else "failed"
    failed = f.get("failed_condition")
    on = ""
    if isinstance(failed, dict) and _scalar(failed.get("prompt")):
        answers = failed.get("answers")
        ans = " | ".join(str(a) for a in answers if _scalar(a)) if isinstance(answers, list) else ""
        on = f" on \"{failed['prompt']}\" -> {ans}"
    return f"{model.strip() or 'base model'}: FAILED, {reason}{on} ({metric})", False


# -- the task ----------------------------------------------------------------------------------

def probe_triple(case: EditCase, probe: Probe, names: KGNames | None = None) -> tuple[str, str, str] | None:
    """The triple of the fact the annotator checks (readable relation), or None when none is recorded."""
    return tested_fact(case, probe, names or KGNames()).triple


def edit_text(case: EditCase) -> str:
    return f"{case.prompt} {case.target_new}   (was: {case.target_true})"


def _row(label: str, body: str) -> str:
    return (f'<div style="display:flex;margin:2px 0"><span style="flex:0 0 105px;color:#666">{escape(label)}</span>'
            f"<span>{body}</span></div>")


def _head_html(case: EditCase, probe: Probe, world: str, fact: Fact, names: KGNames) -> str:
    bg, fg = _BADGE_STYLE[world]
    badge = (f'<span class="kedit-badge" style="display:inline-block;padding:1px 10px;border-radius:10px;'
             f'font-weight:600;background:{bg};color:{fg}">{escape(BADGE[world])}</span>')
    what = escape(f"{probe.split}: {_EXPECT_TEXT.get(probe.expect, probe.expect)}")
    rows = [f'<div style="margin-bottom:4px">{badge} <span style="color:#666">{what}</span></div>']
    edit = edit_fact(case, names)
    note = "take it as true" if world == "edited" else "ignore it here"
    rows.append(_row("Edit", f'{edit.html()} <span style="color:#666">(was {escape(case.target_true)}; {note})</span>'))
    hop = hop_fact(probe, names) if probe.split == "one_hop" else None
    if hop is not None:
        link = lambda s, r, o: f"<b>{escape(s)}</b> &mdash;{escape(r)}&rarr; <b>{escape(o)}</b>"
        chain = (f"edit {link(*edit.triple)} &nbsp;&rArr;&nbsp; hop {link(*hop.triple)} &nbsp;&rArr;&nbsp; "
                 f"answer <b>{escape(_first(probe.answers))}</b>")
        rows.append(_row("Chain", chain))
        rows.append(_row("Hop fact", f'{hop.html()} <span style="color:#666">(must hold in the real world)</span>'))
    else:
        tail = f' <span style="color:#666">{escape(fact.triple_text())}</span>' if fact.triple else ""
        rows.append(_row("Fact tested" if world == "real" else "Fact (edit)", fact.html() + tail))
    return '<div class="kedit-head" style="font-size:14px">' + "".join(rows) + "</div>"


def _evidence_html(generator: str, prerequisites: list[str], filtered: tuple[str, bool | None]) -> str:
    text, passed = filtered
    colour = {True: "#1a7f37", False: "#b42318", None: "#666"}[passed]
    rows = [_row("Generated by", escape(generator)),
            _row("Prerequisite", "<br>".join(escape(p) for p in prerequisites) if prerequisites else
                 '<span style="color:#666">none</span>'),
            _row("Base model", f'<span style="color:{colour}">{escape(text)}</span>')]
    return ('<div class="kedit-evidence" style="font-size:13px;border-left:3px solid #ddd;padding-left:8px;margin:4px 0">'
            '<div style="color:#666;font-weight:600">Evidence</div>' + "".join(rows) + "</div>")


def make_task(case: EditCase, index: int, probe: Probe, names: KGNames | None = None) -> dict:
    names = names or KGNames()
    world = WORLD.get(probe.expect, "edited")
    fact = tested_fact(case, probe, names)
    generator = generator_text(case, probe, names)
    prerequisites = prerequisite_texts(probe, names)
    filtered = filter_text(case, probe)
    triple = fact.triple
    data = {
        ID_FIELD: key_of(case, probe),
        "case_id": case.case_id,
        "probe_index": index,
        "split": probe.split,
        "expect": probe.expect,
        "world": world,
        "badge": BADGE[world],
        "edit": edit_text(case),
        "fact": fact.text(),
        "subject": triple[0] if triple else "",
        "relation": triple[1] if triple else "",
        "object": triple[2] if triple else "",
        "triple": fact.triple_text() or fact.text(),
        "probe": f"split: {probe.split}; {_EXPECT_TEXT.get(probe.expect, probe.expect)}",
        "question": probe.prompt,
        "answer": " | ".join(probe.answers),
        "answers": list(probe.answers),
        "generator": generator,
        "prerequisite": prerequisites,
        "filter": filtered[0],
        "view_head": _head_html(case, probe, world, fact, names),
        "view_evidence": _evidence_html(generator, prerequisites, filtered),
    }
    return {"data": data}


def iter_targets(cases: Iterable[EditCase], splits: Sequence[str] = PUSH_SPLITS):
    """(case index, probe index, case, probe) of every probe to verify."""
    wanted = set(splits)
    for ci, case in enumerate(cases):
        for pi, probe in enumerate(case.probes):
            if probe.split in wanted:
                yield ci, pi, case, probe


def make_tasks(cases: Sequence[EditCase], splits: Sequence[str] = PUSH_SPLITS, names: KGNames | None = None) -> list[dict]:
    """One task per probe of ``splits``; a probe repeated verbatim in a case gives one task.

    ``names`` turns KG ids into names and labels (default: the bundled KG's)."""
    names = KGNames.load() if names is None else names
    tasks, seen = [], set()
    for _ci, pi, case, probe in iter_targets(cases, splits):
        task = make_task(case, pi, probe, names)
        if task["data"][ID_FIELD] not in seen:
            seen.add(task["data"][ID_FIELD])
            tasks.append(task)
    return tasks
