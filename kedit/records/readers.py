"""Readers of the formats users already have (EasyEdit portability JSON, ROME CounterFact).

Each reader maps a source record onto a kedit case dict and builds the EditCase through
``case_from_dict``, so every record passes the same validation as a kedit JSONL line. A file may
be a JSON array (the usual shape) or JSON Lines. Errors name the file, the line where the record
starts and, for an array, the record's index; the field is named as the *source* format spells it.

Case ids: the record's own ``case_id`` if it has one, else ``<format>-<index>`` (0-based, the
record's position in the file). Every probe's provenance says ``source_format`` and
``source_field``; source keys that map to no probe (ROME's ``generation_prompts``, MEND's ``pred``
...) are kept in the case's provenance under ``source_extra`` so that nothing is lost.

``easyedit-zsre`` (MEND/EasyEdit ZsRE: ``zsre_mend_eval*.json`` and the portability files, checked
against EasyEdit ``easyeditor/dataset/zsre.py``, ``examples/run_zsre_llama2.py``, ROME
``dsets/zsre.py``):
  src -> case prompt and ``reliability`` (answers [alt], foil answers[0]); target_true = answers[0];
  rephrase -> ``generalization`` (same answers and foil); loc / loc_ans -> ``locality`` (keep),
  the prompt kept verbatim with its ``nq question:`` prefix as EasyEdit and ROME feed it;
  portability {"New Question", "New Answer"} -> ``one_hop``; ``inverse question``
  (zsre_inverse_relation.json) -> ``reverse_relation`` answered by the subject;
  ``alter_subject_question`` (zsre_subject_replace.json) -> ``subject_replace`` answered by alt.
  Records whose ``alt`` is "" are skipped (with a warning), as EasyEdit's ZsreDataset does.
  Relation id ``zsre``, empty template.
``easyedit-counterfact`` (EasyEdit ``counterfact-{train,val,edit}.json``, see
``easyeditor/dataset/counterfact.py``): prompt + target_new -> ``reliability`` (foil ground_truth);
rephrase_prompt -> ``generalization``; locality_prompt / locality_ground_truth -> ``locality``
(keep, foil target_new as in CounterFact's neighborhood score); relation id ``counterfact``.
``rome-counterfact`` (ROME ``counterfact.json``, see ROME ``dsets/counterfact.py`` and
``experiments/py/eval_utils_counterfact.py``; also EasyEdit's counterfact_portability_gpt4.json and
counterfact_subject_replace.json, which are ROME records plus ``portability`` or
``alternative_subject``): prompt = requested_rewrite.prompt with the subject; relation =
(relation_id, that template); paraphrase_prompts -> ``generalization`` (answers [target_new], foil
target_true); neighborhood_prompts -> ``locality`` (keep, answers [target_true], foil target_new:
CounterFact counts p(true) > p(new)); alternative_subject -> ``subject_replace``.

A ``portability`` object, in any of the three formats, is either EasyEdit's
{"New Question", "New Answer"} (one hop) or keyed lists of {prompt, ground_truth} as KnowEdit
writes them, the key naming the split: one hop / reasoning -> ``one_hop``, subject aliasing /
subject replace -> ``subject_replace``, inverse / reverse relation -> ``reverse_relation``.
Portability probes expect ``new``.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any, Callable, Iterator

from ..errors import RecordError
from .formats import register_format
from .jsonl import JSON_WS, _Checker, case_from_dict, decode_json, parse_json, printable, read_text
from .schema import EditCase

log = logging.getLogger(__name__)

_WS = re.compile(f"[{JSON_WS}]*")

_PORTABILITY_KEYS = {
    "one_hop": "one_hop", "onehop": "one_hop", "reasoning": "one_hop",
    "subject_replace": "subject_replace", "subject_aliasing": "subject_replace",
    "subject_alias": "subject_replace",
    "reverse_relation": "reverse_relation", "inverse_relation": "reverse_relation",
    "reverse": "reverse_relation", "inverse": "reverse_relation",
}


def _records(path: Path) -> Iterator[tuple[int, int, bool, Any]]:
    """(index, line where the record starts, whether the file is a JSON array, record)."""
    text = read_text(path)
    pos = _WS.match(text).end()
    if not text.startswith("[", pos):
        index = 0
        for n, line in enumerate(text.split("\n"), 1):
            if line.strip(JSON_WS):
                yield index, n, False, parse_json(line, path, n)
                index += 1
        return
    pos = _WS.match(text, pos + 1).end()
    line, counted, index = 1, 0, 0
    while not text.startswith("]", pos):
        rec, end = decode_json(text, path, 1, pos, "<file>")
        line += text.count("\n", counted, pos)
        counted = pos
        yield index, line, True, rec
        index += 1
        pos = _WS.match(text, end).end()
        if text.startswith(",", pos):
            pos = _WS.match(text, pos + 1).end()
            if text.startswith("]", pos):
                raise RecordError(path, text.count("\n", 0, pos) + 1, "<file>", "not valid JSON (a ',' before ']')")
        elif not text.startswith("]", pos):
            n = text.count("\n", 0, pos) + 1
            raise RecordError(path, n, "<file>", "not valid JSON (expected ',' or ']' after a record)")
    if text[pos + 1:].strip(JSON_WS):
        raise RecordError(path, text.count("\n", 0, pos) + 1, "<file>", "not valid JSON (extra data after the array)")


class _Source(_Checker):
    """One source record: checks its fields (errors say where it is) and builds probe dicts."""

    def __init__(self, path: Path, line: int, fmt: str, index: int, in_array: bool):
        super().__init__(path, line)
        self.fmt = fmt
        self.where = f" (record [{index}] of the JSON array)" if in_array else ""

    def fail(self, field: str, problem: str) -> RecordError:
        return RecordError(self.path, self.line, printable(field), printable(problem) + self.where)

    def objects(self, d: dict, key: str, what: str, where: str = "") -> Iterator[tuple[str, dict]]:
        """(place, object) of each item of the list ``d[key]`` (none when the key is missing); a value that
        is not a list, or an item that is not an object, is an error naming it (``what``: its fields)."""
        items = d.get(key, [])
        if not isinstance(items, list):
            raise self.fail(where + key, f"expected a list of {what}")
        for i, x in enumerate(items):
            w = f"{where}{key}[{i}]."
            if not isinstance(x, dict):
                raise self.fail(w[:-1], f"expected an object {what}")
            yield w, x

    def answers(self, d: dict, key: str, where: str = "") -> tuple[str, ...]:
        """A string, a list of strings, or KnowEdit's list of alias lists (flattened, gold first)."""
        v = d.get(key)
        if isinstance(v, list) and any(isinstance(x, list) for x in v):
            v = [y for x in v for y in (x if isinstance(x, list) else [x])]
        return self.texts({key: v}, key, where)

    def subject(self, rec: dict, prompt: str, prompt_field: str) -> str:
        """The subject as the prompt spells it (a case-insensitive match is accepted)."""
        s = self.text(rec, "subject")
        if s in prompt:
            return s
        m = re.search(re.escape(s), prompt, re.IGNORECASE)
        if m:
            return m.group(0)
        raise self.fail("subject", f"'{s}' does not occur in {prompt_field} {prompt!r}, not even ignoring case")

    def probes(self, split: str, prompts, answers, field: str, foil: str | None = None) -> list[dict]:
        prov = {"source_format": self.fmt, "source_field": field}
        return [
            {"split": split, "prompt": p, "answers": list(answers), "provenance": dict(prov)}
            | ({"foil": foil} if foil is not None else {})
            for p in prompts or ()
        ]

    def portability(self, rec: dict) -> list[dict]:
        port = rec.get("portability")
        if not port:
            return []
        if not isinstance(port, dict):
            raise self.fail("portability", "expected an object")
        out = []
        if "New Question" in port or "New Answer" in port:
            out += self.probes("one_hop", self.texts(port, "New Question", "portability."),
                               self.answers(port, "New Answer", "portability."), "portability.New Question")
        for key, entries in port.items():
            if key in ("New Question", "New Answer"):
                continue
            split = _PORTABILITY_KEYS.get(re.sub(r"[^a-z]+", "_", key.lower()).strip("_"))
            if split is None:
                raise self.fail(f"portability.{key}", "unknown kind of portability probe; known: "
                                + ", ".join(sorted(_PORTABILITY_KEYS)) + ", or 'New Question'/'New Answer'")
            for j, e in enumerate(entries if isinstance(entries, list) else [entries]):
                where = f"portability.{key}[{j}]."
                if not isinstance(e, dict):
                    raise self.fail(where[:-1], "expected an object {prompt, ground_truth}")
                out += self.probes(split, self.texts(e, "prompt", where), self.answers(e, "ground_truth", where),
                                   where + "prompt")
        return out


Convert = Callable[[dict, _Source], "dict | None"]


def _reader(name: str, detect: Callable[[Any], bool], known: set[str],
            skip_reason: str = "with an empty target (as EasyEdit does)"):
    """Register ``convert`` (source record -> kedit case dict, or None to skip) as format ``name``.
    A case dict may carry ``source_unread``: {source field: its list of tests} that no kedit split
    means; they stay in the case's provenance under that key and their count is logged, never
    dropped silently."""

    def deco(convert: Convert) -> Convert:
        def read(path: Path) -> list[EditCase]:
            path = Path(path)
            cases: list[EditCase] = []
            first_line: dict[str, int] = {}
            skipped = 0
            kept_unread: dict[str, int] = {}
            for index, line, in_array, rec in _records(path):
                src = _Source(path, line, name, index, in_array)
                if not isinstance(rec, dict):
                    raise src.fail("<record>", "expected a JSON object")
                d = convert(rec, src)
                if d is None:
                    skipped += 1
                    continue
                cid = rec.get("case_id")
                if cid is not None and (not isinstance(cid, (str, int)) or isinstance(cid, bool)):
                    raise src.fail("case_id", f"expected a string or an integer, got {type(cid).__name__}")
                d["case_id"] = cid = str(cid) if cid is not None else f"{name}-{index}"
                if cid in first_line:
                    raise src.fail("case_id", f"duplicate case_id '{cid}' (first at line {first_line[cid]})")
                first_line[cid] = line
                unread = {k: v for k, v in (d.pop("source_unread", None) or {}).items() if v}
                for k, v in unread.items():
                    kept_unread[k] = kept_unread.get(k, 0) + (len(v) if isinstance(v, list) else 1)
                extra = {k: v for k, v in rec.items() if k not in known}
                d["provenance"] = {"source_format": name, "source_index": index} | (
                    {"source_extra": extra} if extra else {}) | ({"source_unread": unread} if unread else {})
                cases.append(case_from_dict(d, path, line))
            if skipped:
                log.warning("%s: skipped %d record(s) %s", path, skipped, skip_reason)
            for k, n in kept_unread.items():
                log.warning("%s: %d %s test(s) map to no kedit split; they are kept, unread, in each case's "
                            "provenance (source_unread)", path, n, k)
            return cases

        register_format(name, detect, " ".join((convert.__doc__ or "").split()))(read)
        return convert

    return deco


def _has(*keys: str) -> Callable[[Any], bool]:
    return lambda r: isinstance(r, dict) and all(k in r for k in keys)


@_reader("easyedit-zsre", _has("subject", "src", "alt", "answers"),
         {"case_id", "subject", "src", "alt", "answers", "rephrase", "loc", "loc_ans", "portability",
          "inverse question", "alter_subject_question"})
def _zsre(rec: dict, src: _Source) -> dict | None:
    """EasyEdit / MEND ZsRE JSON (zsre_mend_eval.json and the portability files)."""
    if rec.get("alt") == "":
        return None
    new, answers, prompt = src.text(rec, "alt"), src.answers(rec, "answers"), src.text(rec, "src")
    subject, true = src.subject(rec, prompt, "src"), answers[0]
    probes = src.probes("reliability", [prompt], [new], "src", foil=true)
    probes += src.probes("generalization", src.texts(rec, "rephrase", required=False), [new], "rephrase", foil=true)
    loc = src.texts(rec, "loc", required=False)
    if loc:
        probes += src.probes("locality", loc, src.answers(rec, "loc_ans"), "loc")
    probes += src.probes("reverse_relation", src.texts(rec, "inverse question", required=False), [subject],
                         "inverse question")
    probes += src.probes("subject_replace", src.texts(rec, "alter_subject_question", required=False), [new],
                         "alter_subject_question", foil=true)
    probes += src.portability(rec)
    return {"subject": subject, "relation": {"id": "zsre"}, "target_true": true, "target_new": new,
            "prompt": prompt, "probes": probes}


@_reader("easyedit-counterfact", _has("prompt", "target_new", "ground_truth", "locality_prompt"),
         {"case_id", "subject", "prompt", "target_new", "ground_truth", "rephrase_prompt", "locality_prompt",
          "locality_ground_truth", "portability"})
def _easyedit_counterfact(rec: dict, src: _Source) -> dict:
    """EasyEdit CounterFact JSON (counterfact-train/val/edit.json)."""
    prompt, new, true = src.text(rec, "prompt"), src.text(rec, "target_new"), src.answers(rec, "ground_truth")[0]
    subject = src.subject(rec, prompt, "prompt")
    probes = src.probes("reliability", [prompt], [new], "prompt", foil=true)
    probes += src.probes("generalization", src.texts(rec, "rephrase_prompt", required=False), [new],
                         "rephrase_prompt", foil=true)
    loc = src.texts(rec, "locality_prompt", required=False)
    if loc:
        probes += src.probes("locality", loc, src.answers(rec, "locality_ground_truth"), "locality_prompt", foil=new)
    probes += src.portability(rec)
    return {"subject": subject, "relation": {"id": "counterfact"}, "target_true": true, "target_new": new,
            "prompt": prompt, "probes": probes}


def _is_rome(r: Any) -> bool:
    rw = r.get("requested_rewrite") if isinstance(r, dict) else None
    return isinstance(rw, dict) and all(k in rw for k in ("prompt", "subject", "target_new", "target_true"))


@_reader("rome-counterfact", _is_rome,
         {"case_id", "requested_rewrite", "paraphrase_prompts", "neighborhood_prompts", "portability",
          "alternative_subject"})
def _rome_counterfact(rec: dict, src: _Source) -> dict:
    """ROME CounterFact JSON (counterfact.json), also EasyEdit's CounterFact portability files."""
    rw = rec.get("requested_rewrite")
    if not isinstance(rw, dict):
        raise src.fail("requested_rewrite", "expected an object {prompt, subject, target_new, target_true}")
    w = "requested_rewrite."
    template, subject = src.text(rw, "prompt", w), src.text(rw, "subject", w)
    if "{}" not in template:
        raise src.fail(w + "prompt", f"must contain '{{}}' where the subject goes, got {template!r}")
    new, true = (src.text(rw[k], "str", f"{w}{k}.") if isinstance(rw.get(k), dict) else src.text(rw, k, w)
                 for k in ("target_new", "target_true"))
    prompt = template.replace("{}", subject)
    probes = src.probes("reliability", [prompt], [new], w + "prompt", foil=true)
    probes += src.probes("generalization", src.texts(rec, "paraphrase_prompts", required=False), [new],
                         "paraphrase_prompts", foil=true)
    probes += src.probes("locality", src.texts(rec, "neighborhood_prompts", required=False), [true],
                         "neighborhood_prompts", foil=new)
    alias = src.text(rec, "alternative_subject", required=False)
    if alias:
        probes += src.probes("subject_replace", [template.replace("{}", alias)], [new], "alternative_subject",
                             foil=true)
    probes += src.portability(rec)
    rel = src.text(rw, "relation_id", w, required=False) or "counterfact"
    return {"subject": subject, "relation": {"id": rel, "template": template}, "target_true": true,
            "target_new": new, "prompt": prompt, "probes": probes}
