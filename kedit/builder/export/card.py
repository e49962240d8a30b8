"""The dataset card (README.md): YAML front matter that ``datasets`` reads, and the build's provenance.

The front matter holds ``configs:`` (one per config with rows; ``edits`` is the default) and
``dataset_info:`` (features and the ``test`` split's num_examples / num_bytes per config), written
with the same ``datasets`` / ``huggingface_hub`` helpers ``Dataset.push_to_hub`` uses, so the Hub
viewer and ``load_dataset`` read it as they read any pushed dataset.

The body records how the benchmark was made, from the manifest chain (``stage_entries``): the
generator and its model, prompt versions, tokens and cost (generate); kept and dropped counts
(filter); agreement (annotate); the kedit version of every stage. Stage figures are looked up by
the names the stages use (``model``, ``prompt_versions``, ``tokens``, ``cost_usd`` ...); every
figure a stage recorded is also listed in full, so nothing depends on the lookup. A stage with no
manifest (a user's own file, a skipped stage) reads "not recorded". Paths are shown by file name
only, so a pushed card never carries a personal path.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable

from ... import __version__
from ...records import SPLITS
from ...records.hfdataset import CONFIGS, EDITS, PROBE_CONFIGS, SPLIT, data_dir, features_of

NOT_RECORDED = "not recorded"

_WHAT = {
    EDITS: "the edit requests, one row per case, with the base probes (reliability, generalization, locality) as lists",
    "subject_replace": "the question asked with an alias or synonym of the subject; must give the new answer",
    "reverse_relation": "the question asked from the new object's side; must give the subject",
    "one_hop": "needs the new fact plus one known fact (its `conditions`); must give the implied answer",
    "other_relation": "other attributes of the edited subject; must not change",
    "distract_neighbor": "the edit sentence placed before an unrelated question; the answer must not change",
    "commonsense": "multiple-choice general ability (`choices`); accuracy must not drop",
}

# keys in a stage manifest that describe the manifest itself, not the stage's figures
_BOOKKEEPING = ("format", "stage", "kedit_version", "created", "machine", "input", "output")

# summary rows: (label, stage kind, candidate keys) — the first key found in the stage's figures
# (top level first, then nested dicts: `kbuild generate` nests its figures under "generate")
_SUMMARY = [
    ("Generator", "generate", ("generator", "backend")),
    ("Generator model", "generate", ("llm_model", "generator_model", "model")),
    ("Prompt versions", "generate", ("prompt_versions", "prompt_version")),
    ("Tokens", "generate", ()),  # see _tokens
    ("Cost", "generate", ()),  # see _cost
    ("Filter model", "filter", ("model", "base_model")),
    ("Filter counts", "filter", ()),  # see _filter_counts
    ("Annotation agreement", "annotate", ("agreement", "kappa", "cohen_kappa", "fleiss_kappa")),
]


def stage_kind(stage: str) -> str:
    s = (stage or "").lower()
    if s.startswith("gen"):
        return "generate"
    if s.startswith("filt"):
        return "filter"
    if "annot" in s or "verif" in s or s in ("pull", "adjudicate"):
        return "annotate"
    return s


def _figures(entry: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in entry.items() if k not in _BOOKKEEPING}


def _find(d: Any, keys: Iterable[str]) -> Any:
    """The value of the first of ``keys`` found in ``d`` (top level first, then nested dicts)."""
    if not isinstance(d, dict):
        return None
    keys = tuple(keys)
    for k in keys:
        if k in d and d[k] not in (None, "", {}, []):
            return d[k]
    for v in d.values():
        found = _find(v, keys)
        if found is not None:
            return found
    return None


def _fmt(v: Any) -> str:
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, float):
        return f"{v:,.4f}".rstrip("0").rstrip(".")
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, dict):
        if not v:
            return "none"
        return ", ".join(f"{k}: {_fmt(x)}" for k, x in v.items())
    if isinstance(v, (list, tuple)):
        return ", ".join(_fmt(x) for x in v)
    return str(v).replace("|", "\\|").replace("\n", " ")


def _file(d: Any) -> str:
    if not isinstance(d, dict):
        return NOT_RECORDED
    name = Path(str(d.get("path") or "?")).name
    parts = [f"`{name}`"]
    counts = [f"{d[k]:,} {k}" for k in ("cases", "probes") if isinstance(d.get(k), int)]
    if counts:
        parts.append("(" + ", ".join(counts) + ")")
    if d.get("sha256"):
        parts.append(f"sha256 `{d['sha256'][:12]}…`")
    return " ".join(parts)


def _tokens(figs: dict[str, Any]) -> str | None:
    total = _find(figs, ("tokens", "total_tokens", "usage"))
    if total is not None:
        return _fmt(total)
    prompt, completion = _find(figs, ("prompt_tokens",)), _find(figs, ("completion_tokens",))
    if isinstance(prompt, int) and isinstance(completion, int):
        return f"{prompt + completion:,} (prompt {prompt:,}, completion {completion:,})"
    return None


def _cost(figs: dict[str, Any]) -> str | None:
    usd = _find(figs, ("cost_usd", "total_cost_usd"))
    if isinstance(usd, (int, float)):
        cached = _find(figs, ("cached_cost_usd",))
        extra = f" (plus {_fmt(float(cached))} USD answered from the cache)" if isinstance(cached, (int, float)) and cached else ""
        return f"{_fmt(float(usd))} USD{extra}"
    cost = _find(figs, ("cost",))
    return _fmt(cost) if cost is not None else None


def _filter_counts(figs: dict[str, Any]) -> str | None:
    parts = []
    cases = _find(figs, ("cases",))
    if isinstance(cases, dict):
        parts.append("cases " + _fmt(cases))
    per_split = _find(figs, ("probes_per_split",))
    if isinstance(per_split, dict) and all(isinstance(v, dict) for v in per_split.values()):
        gen = sum(v.get("generated", 0) for v in per_split.values() if isinstance(v.get("generated"), int))
        kept = sum(v.get("kept", 0) for v in per_split.values() if isinstance(v.get("kept"), int))
        parts.append(f"probes generated {gen:,}, kept {kept:,}")
    if not parts:
        found = _find(figs, ("counts", "kept", "dropped"))
        return _fmt(found) if found is not None else None
    return "; ".join(parts)


_NO_LLM = ("Generator model", "Prompt versions", "Tokens")  # what a knowledge-graph build has none of
_SPECIAL = {"Tokens": _tokens, "Cost": _cost, "Filter counts": _filter_counts}


def summary_rows(entries: list[dict[str, Any]], export_version: str = __version__) -> list[tuple[str, str]]:
    by_kind: dict[str, dict[str, Any]] = {}
    for e in entries:  # oldest first: a later run of the same stage wins
        by_kind[stage_kind(e.get("stage", ""))] = e
    rows = []
    for label, kind, keys in _SUMMARY:
        value = None
        if kind in by_kind:
            figs = _figures(by_kind[kind])
            value = _SPECIAL[label](figs) if label in _SPECIAL else _find(figs, keys)
            if value is None and label in _NO_LLM and _find(figs, ("generator", "backend")) == "kg":
                value = "none (knowledge-graph backend, no LLM)"
        rows.append((label, _fmt(value) if value is not None else NOT_RECORDED))
    versions = [f"{e.get('stage', '?')} {e.get('kedit_version', '?')}" for e in entries]
    rows.append(("kedit version", ", ".join(versions + [f"export {export_version}"])))
    return rows


def card_data(stats: dict[str, dict[str, int]], pretty_name: str, license: str | None = None):
    """The front matter: configs (with ``edits`` the default) and dataset_info, as datasets writes them."""
    from datasets.info import DatasetInfo, DatasetInfosDict
    from datasets.splits import SplitDict, SplitInfo
    from datasets.utils.metadata import MetadataConfigs
    from huggingface_hub import DatasetCardData

    data = DatasetCardData(pretty_name=pretty_name, license=license, tags=["knowledge-editing", "kedit"],
                           task_categories=["question-answering"])
    configs = MetadataConfigs({
        cfg: {"data_files": [{"split": SPLIT, "path": f"{data_dir(cfg)}/{SPLIT}-*"}], **({"default": True} if cfg == EDITS else {})}
        for cfg in CONFIGS if cfg in stats
    })
    configs.to_dataset_card_data(data)
    infos = DatasetInfosDict()
    for cfg in CONFIGS:
        if cfg not in stats:
            continue
        s = stats[cfg]
        splits = SplitDict()
        splits.add(SplitInfo(name=SPLIT, num_bytes=s["num_bytes"], num_examples=s["num_examples"]))
        infos[cfg] = DatasetInfo(features=features_of(cfg), splits=splits, download_size=s["download_size"],
                                 dataset_size=s["num_bytes"], config_name=cfg)
    infos.to_dataset_card_data(data)
    return data


def _stage_section(e: dict[str, Any]) -> list[str]:
    lines = [f"### {e.get('stage', '?')}", ""]
    lines.append(f"- kedit {e.get('kedit_version', '?')}, {e.get('created', 'time not recorded')}")
    if e.get("input") is not None:
        lines.append(f"- input: {_file(e.get('input'))}")
    lines.append(f"- output: {_file(e.get('output'))}")
    figs = _figures(e)
    if figs:
        lines += ["", "```json", json.dumps(figs, indent=2, ensure_ascii=False, default=str), "```"]
    else:
        lines.append("- no figures recorded")
    return lines + [""]


def render_card(*, stats: dict[str, dict[str, int]], probe_counts: dict[str, int], entries: list[dict[str, Any]],
                input_desc: dict[str, Any], pretty_name: str, license: str | None = None) -> str:
    """README.md text: front matter + body. ``probe_counts`` covers every split, zero included."""
    data = card_data(stats, pretty_name, license)
    n_cases = stats.get(EDITS, {}).get("num_examples", 0)
    kinds = {stage_kind(e.get("stage", "")) for e in entries}
    out = [f"# {pretty_name}", "",
           f"A knowledge-editing benchmark exported by kedit {__version__}: "
           f"{n_cases:,} edit cases, {sum(probe_counts.values()):,} probes, from {_file(input_desc)}.", "",
           "Each edit changes one fact (`subject`, `relation_id`: `target_true` → `target_new`). An edited model "
           "must give the new answer on the probes that `expect` `new` and keep its old behaviour on those that "
           "`expect` `keep`.", "",
           "## Configs", "",
           f"Every config has one split, `{SPLIT}` (this is an evaluation set).", "",
           "| config | rows | group | what it checks |", "|---|---:|---|---|"]
    for cfg in CONFIGS:
        if cfg in stats:
            group = "base" if cfg == EDITS else SPLITS[cfg][0]
            out.append(f"| `{cfg}` | {stats[cfg]['num_examples']:,} | {group} | {_WHAT[cfg]} |")
    skipped = [c for c in PROBE_CONFIGS if c not in stats]
    out.append("")
    if skipped:
        out += ["Not exported because the input has no probes of that split: "
                + ", ".join(f"`{c}`" for c in skipped) + ".", ""]
    out += ["Probes per split: " + ", ".join(f"{s} {n:,}" for s, n in probe_counts.items()) + ".", "",
            "## Loading", "", "```python", "from datasets import load_dataset", "",
            f'edits = load_dataset("REPO_OR_FOLDER", "{EDITS}", split="{SPLIT}")      # the default config',
            f'one_hop = load_dataset("REPO_OR_FOLDER", "one_hop", split="{SPLIT}")',
            "```", "",
            f"Without `split=`, `load_dataset` returns a `DatasetDict` with the single split `{SPLIT}`. "
            "Back into kedit records (the probes in their original order):", "",
            "```python", "from kedit.records import read_cases", "",
            'cases = read_cases("FOLDER")   # a local export or a snapshot_download of the repo', "```", "",
            "`keval run --bench FOLDER` evaluates editors on it directly.", "",
            "## Columns", "",
            f"`{EDITS}`: `case_id`, `subject`, `relation_id`, `relation_template` (cloze with `{{}}` for the subject), "
            "`target_true`, `target_new`, `prompt` (the edit prompt), `reliability`, `generalization`, `locality` "
            "(lists of probes), `provenance` (JSON string).", "",
            "Portability and locality configs, one row per probe: `case_id`, `probe_index`, `subject`, `relation_id`, "
            "`relation_template`, `target_true`, `target_new`, `edit_prompt`, then the probe.", "",
            "A probe: `probe_index` (its position among the case's probes), `prompt`, `answers` (gold first, then "
            "aliases), `expect` (`new` or `keep`), `foil` (the competing answer for p(answer) > p(foil), or null), "
            "`choices` (multiple-choice options, or null), `conditions` (prerequisite facts the unedited model must "
            "know, each `{prompt, answers, triple}`; a probe whose conditions fail is not scored), `provenance` "
            "(JSON string: generator, model, prompt version, annotator verdicts).", "",
            "## How it was built", ""]
    if not entries:
        out += ["The input file has no kedit build manifest (for example a file written by hand or converted "
                "from another format), so how its probes were made is " + NOT_RECORDED + ".", ""]
    else:
        missing = [k for k in ("generate", "filter", "annotate") if k not in kinds]
        if missing:
            out += ["Stages with no manifest in the chain (" + NOT_RECORDED + "): " + ", ".join(missing) + ".", ""]
    out += ["| | |", "|---|---|"] + [f"| {k} | {v} |" for k, v in summary_rows(entries)] + [""]
    if entries:
        out += ["Every stage's manifest, oldest first (also in `kedit_export.json`):", ""]
        for e in entries:
            out += _stage_section(e)
    return f"---\n{data.to_yaml()}\n---\n\n" + "\n".join(out).rstrip() + "\n"
