"""kbuild export: the Hugging Face layout of the demo benchmark, its card and manifest chain, load_dataset
offline, the round trip back into kedit records, and refusals on bad input or a foreign --out."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from kedit import __version__
from kedit.builder.cli import main as kbuild
from kedit.builder.export import CONFIGS, read_export
from kedit.errors import KeditError
from kedit.records import SPLITS, read_jsonl, write_jsonl
from kedit.records.schema import CHAIN_SPLITS
from kedit.records.hfdataset import (
    EDITS,
    MARKER,
    PROBE_CONFIGS,
    SPLIT,
    data_file,
    features_of,
    schema_of,
)
from kedit.records.manifest import read_manifest, write_manifest
from kedit.settings import data_root

DEMO = data_root() / "demo" / "bench.jsonl"


def _front_matter(folder: Path) -> dict:
    from huggingface_hub import DatasetCard

    return DatasetCard.load(folder / "README.md").data.to_dict()


def _body(folder: Path) -> str:
    return (folder / "README.md").read_text(encoding="utf-8").split("\n---\n", 1)[1].lstrip()


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """load_dataset with no network and a cache under tmp_path."""
    import datasets.config

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf-cache"))
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf-cache")
    monkeypatch.setattr(datasets.config, "HF_DATASETS_OFFLINE", True, raising=False)
    return tmp_path / "hf-cache"


PRESENT = [c for c in CONFIGS if c not in CHAIN_SPLITS]  # the configs of the bundled demo benchmark


@pytest.fixture(scope="module")
def demo_export(tmp_path_factory):
    out = tmp_path_factory.mktemp("export") / "demo-hf"
    assert kbuild(["export", "--in", str(DEMO), "--out", str(out)]) == 0
    return out


def test_demo_layout_and_front_matter(demo_export):
    files = sorted(str(p.relative_to(demo_export)) for p in demo_export.rglob("*") if p.is_file())
    assert files == sorted(["README.md", MARKER] + [data_file(c) for c in PRESENT])
    meta = _front_matter(demo_export)
    configs = {c["config_name"]: c for c in meta["configs"]}
    assert set(configs) == set(PRESENT) and set(CONFIGS) == {EDITS, *PROBE_CONFIGS}
    assert configs[EDITS].get("default") is True
    for cfg, c in configs.items():
        assert c["data_files"] == [{"split": SPLIT, "path": f"data/{cfg}/{SPLIT}-*"}]
    infos = {i["config_name"]: i for i in meta["dataset_info"]}
    cases = read_jsonl(DEMO)
    for cfg in PRESENT:
        n = len(cases) if cfg == EDITS else sum(len(c.probes_of(cfg)) for c in cases)
        (split,) = infos[cfg]["splits"]
        assert split["name"] == SPLIT and split["num_examples"] == n == 63 and split["num_bytes"] > 0
        assert infos[cfg]["features"] == features_of(cfg)._to_yaml_list()
        assert infos[cfg]["download_size"] == (demo_export / data_file(cfg)).stat().st_size
    # the Parquet files carry exactly the fixed schema
    for cfg in PRESENT:
        assert pq.read_schema(demo_export / data_file(cfg)).remove_metadata().equals(schema_of(cfg))
    marker = json.loads((demo_export / MARKER).read_text())
    assert marker["format"] == "kedit.export/1" and marker["kedit_version"] == __version__
    assert marker["probes"] == {s: sum(len(c.probes_of(s)) for c in cases) for s in SPLITS}
    assert marker["input"]["path"] == "bench.jsonl"  # file name only, never a local path
    # the stage manifest beside the folder, as every stage writes one
    m = read_manifest(demo_export)
    assert m["stage"] == "export" and m["configs"][EDITS] == 63 and m["upstream"] is None


def test_demo_round_trip_identical(demo_export):
    """read_export gives back the very records, probe order and provenance included."""
    before = [c.to_dict() for c in read_jsonl(DEMO)]
    after = [c.to_dict() for c in read_export(demo_export)]
    assert after == before


def test_every_probe_appears_with_identical_fields(demo_export, offline):
    """Independently of read_export: each input probe is in its config's rows, field for field."""
    from datasets import load_dataset

    rows = {cfg: load_dataset(str(demo_export), name=cfg, split=SPLIT, cache_dir=str(offline)).to_list()
            for cfg in PRESENT}
    edits = {r["case_id"]: r for r in rows[EDITS]}
    by_probe = {(r["case_id"], r["probe_index"]): (cfg, r) for cfg in PROBE_CONFIGS if cfg in rows for r in rows[cfg]}
    n = 0
    for case in read_jsonl(DEMO):
        e = edits[case.case_id]
        assert (e["subject"], e["relation_id"], e["relation_template"], e["target_true"], e["target_new"], e["prompt"]) \
            == (case.subject, case.relation.id, case.relation.template, case.target_true, case.target_new, case.prompt)
        assert json.loads(e["provenance"]) == case.provenance
        for i, p in enumerate(case.probes):
            if SPLITS[p.split][0] == "base":
                (r,) = [x for x in e[p.split] if x["probe_index"] == i]
            else:
                cfg, r = by_probe.pop((case.case_id, i))
                assert cfg == p.split and r["edit_prompt"] == case.prompt and r["target_new"] == case.target_new
            assert r["prompt"] == p.prompt and r["answers"] == list(p.answers) and r["expect"] == p.expect
            assert r["foil"] == p.foil
            assert r["choices"] == (list(p.choices) if p.choices is not None else None)
            assert r["conditions"] == [{"prompt": c.prompt, "answers": list(c.answers),
                                        "triple": list(c.triple) if c.triple else None} for c in p.conditions]
            assert json.loads(r["provenance"]) == p.provenance
            n += 1
    assert not by_probe  # no row without an input probe
    assert n == sum(len(c.probes) for c in read_jsonl(DEMO)) == 689


def test_load_dataset_every_config_offline(demo_export, offline):
    from datasets import DatasetDict, load_dataset

    for cfg in PRESENT:
        ds = load_dataset(str(demo_export), name=cfg, cache_dir=str(offline))
        assert isinstance(ds, DatasetDict) and list(ds) == [SPLIT]
        assert ds[SPLIT].num_rows == 63
        assert ds[SPLIT].features == features_of(cfg)
    default = load_dataset(str(demo_export), split=SPLIT, cache_dir=str(offline))  # no name: the edits config
    assert default.column_names == list(features_of(EDITS))


def _chain(tmp_path: Path, cases, stages: tuple[str, ...]) -> Path:
    """A pipeline's files and manifests: seeds -> generate -> filter -> annotate (the named stages only)."""
    # shaped as kbuild generate (openai backend) and kbuild filter write them: nested under the stage name
    figures = {
        "generate": {"generate": {
            "backend": "openai", "generator": "openai", "llm_model": "gpt-4o-2024-08-06",
            "prompt_versions": ["portability/v3"], "calls": 5, "prompt_tokens": 12345, "completion_tokens": 6789,
            "cost_usd": 0.4321, "cached_cost_usd": 0.01, "cache": "/home/someone/.cache/kedit/llm",
            "price_per_1m_tokens": {"model": "gpt-4o", "input": 2.5, "output": 10.0, "known": True}}},
        "filter": {"filter": {
            "model": "smollm2-135m", "cases": {"in": 45, "kept": 40, "dropped": {"condition not known": 5}},
            "probes_per_split": {"one_hop": {"generated": 45, "kept": 38, "dropped": {"condition not known": 7}},
                                 "locality": {"generated": 90, "kept": 90, "dropped": {}}}}},
        "annotate": {"annotate": {"annotators": 2, "agreement": {"cohen_kappa": 0.8125, "items": 45},
                                  "corrections": 4}},
    }
    prev = tmp_path / "seeds.jsonl"
    write_jsonl(cases, prev)
    for stage in stages:
        path = tmp_path / f"{stage}d.jsonl"
        write_jsonl(cases, path)
        write_manifest(path, stage, input_path=prev, figures=figures[stage])
        prev = path
    return prev


def test_an_export_of_mquake_remastered_cases_has_the_unedited_config_described(tmp_path):
    out = tmp_path / "hf"
    assert kbuild(["export", "--in", "tests/data/mquake_remastered.json", "--out", str(out)]) == 0
    assert (out / data_file("one_hop_unedited")).is_file()
    assert "| `one_hop_unedited` | 9 | locality | a multi-hop question with its original answer" in _body(out)


def test_card_records_the_manifest_chain(tmp_path):
    cases = read_jsonl(DEMO)[:5]
    bench = _chain(tmp_path, cases, ("generate", "filter", "annotate"))
    out = tmp_path / "hf"
    assert kbuild(["export", "--in", str(bench), "--out", str(out), "--pretty-name", "Demo portability"]) == 0
    body = _body(out)
    for figure in ("| Generator | openai |", "| Generator model | gpt-4o-2024-08-06 |", "| Prompt versions | portability/v3 |",
                   "| Tokens | 19,134 (prompt 12,345, completion 6,789) |", "| Cost | 0.4321 USD (plus 0.01 USD",
                   "| Filter model | smollm2-135m |", "kept: 40", "probes generated 135, kept 128",
                   "cohen_kappa: 0.8125",
                   f"generate {__version__}", f"filter {__version__}", f"annotate {__version__}",
                   f"export {__version__}", "condition not known"):
        assert figure in body, figure
    assert "not recorded" not in body
    assert body.startswith("# Demo portability")
    published = (out / "README.md").read_text() + (out / MARKER).read_text()
    assert str(tmp_path) not in published and "/home/someone" not in published  # no local paths
    history = json.loads((out / MARKER).read_text())["history"]
    assert [h["stage"] for h in history] == ["generate", "filter", "annotate"]
    assert history[0]["input"]["path"] == "seeds.jsonl"
    # the export's own manifest nests the whole chain
    m = read_manifest(out)
    assert [m["stage"], m["upstream"]["stage"], m["upstream"]["upstream"]["stage"]] == ["export", "annotate", "filter"]


def test_card_says_not_recorded_for_absent_stages(tmp_path, demo_export):
    assert "no kedit build manifest" in _body(demo_export)
    assert _body(demo_export).count("not recorded") >= 8
    bench = _chain(tmp_path, read_jsonl(DEMO)[:3], ("generate",))
    out = tmp_path / "hf"
    assert kbuild(["export", "--in", str(bench), "--out", str(out)]) == 0
    body = _body(out)
    assert "gpt-4o-2024-08-06" in body and "0.4321 USD" in body
    assert "Stages with no manifest in the chain (not recorded): filter, annotate" in body
    assert "| Annotation agreement | not recorded |" in body and "| Filter counts | not recorded |" in body


def test_empty_split_is_skipped_with_stable_types(tmp_path, offline):
    from datasets import load_dataset

    cases = [replace(c, probes=tuple(p for p in c.probes if p.split not in ("commonsense", "distract_neighbor")))
             for c in read_jsonl(DEMO)[:4]]
    src = tmp_path / "partial.jsonl"
    write_jsonl(cases, src)
    out = tmp_path / "hf"
    assert kbuild(["export", "--in", str(src), "--out", str(out)]) == 0
    names = {c["config_name"] for c in _front_matter(out)["configs"]}
    assert names == set(PRESENT) - {"commonsense", "distract_neighbor"}
    assert not (out / "data" / "commonsense").exists()
    assert ("Not exported because the input has no probes of that split: `one_hop_unedited`, `distract_neighbor`, "
            "`commonsense`") in _body(out)
    assert json.loads((out / MARKER).read_text())["skipped_configs"] == ["one_hop_unedited", "distract_neighbor", "commonsense"]
    # one_hop has no choices at all here, yet keeps the list<string> type
    assert pq.read_schema(out / data_file("one_hop")).remove_metadata().equals(schema_of("one_hop"))
    for cfg in names:
        assert load_dataset(str(out), name=cfg, split=SPLIT, cache_dir=str(offline)).features == features_of(cfg)
    assert [c.to_dict() for c in read_export(out)] == [c.to_dict() for c in cases]


def test_bad_record_fails_before_anything_is_written(tmp_path, capsys):
    lines = DEMO.read_text().splitlines()[:3]
    bad = json.loads(lines[2])
    bad["probes"][0]["split"] = "one-hop"
    src = tmp_path / "bad.jsonl"
    src.write_text("\n".join(lines[:2] + [json.dumps(bad)]) + "\n")
    out = tmp_path / "out" / "hf"
    assert kbuild(["export", "--in", str(src), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "line 3" in err and "probes[0].split" in err and "did you mean 'one_hop'" in err
    assert not (tmp_path / "out").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.jsonl"]


def test_refuses_a_foreign_folder_unless_overwrite(tmp_path, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    assert kbuild(["export", "--in", str(DEMO), "--out", str(out)]) == 2
    assert "not empty and is not a previous kedit export" in capsys.readouterr().err
    assert [p.name for p in out.iterdir()] == ["notes.txt"]
    assert kbuild(["export", "--in", str(DEMO), "--out", str(out), "--overwrite"]) == 0
    # --overwrite writes the export into the folder; what export does not write stays
    assert (out / "notes.txt").read_text() == "keep me" and (out / MARKER).is_file()
    # no temporary or backup folders left beside it
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine", "mine.manifest.json"]
    # a file is never a dataset folder
    f = tmp_path / "file"
    f.write_text("x")
    assert kbuild(["export", "--in", str(DEMO), "--out", str(f), "--overwrite"]) == 2
    assert f.read_text() == "x"


def test_previous_export_is_replaced_and_stale_configs_go(tmp_path):
    out = tmp_path / "hf"
    assert kbuild(["export", "--in", str(DEMO), "--out", str(out)]) == 0
    assert (out / data_file("commonsense")).is_file()
    cases = [replace(c, probes=tuple(p for p in c.probes if p.split != "commonsense")) for c in read_jsonl(DEMO)[:2]]
    src = tmp_path / "small.jsonl"
    write_jsonl(cases, src)
    (out / ".git").mkdir()
    (out / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (out / "LICENSE").write_text("CC-BY-4.0")
    assert kbuild(["export", "--in", str(src), "--out", str(out)]) == 0  # no --overwrite needed
    assert not (out / "data" / "commonsense").exists()
    # a dataset repo's own files beside the export survive a new export into it
    assert (out / ".git" / "HEAD").is_file() and (out / "LICENSE").read_text() == "CC-BY-4.0"
    assert not any(p.name.startswith(".hf") for p in tmp_path.iterdir())  # no temporary folder left
    assert [c.case_id for c in read_export(out)] == [c.case_id for c in cases]


def test_refuses_an_out_that_holds_the_input(tmp_path, capsys):
    src = tmp_path / "bench.jsonl"
    src.write_text(DEMO.read_text())
    assert kbuild(["export", "--in", str(src), "--out", str(tmp_path), "--overwrite"]) == 2
    assert "contains the input file" in capsys.readouterr().err
    assert src.read_text() == DEMO.read_text()


def test_read_export_rejects_other_folders(tmp_path):
    from kedit.errors import KeditError

    with pytest.raises(KeditError, match="not a kedit export"):
        read_export(tmp_path)


def test_summary_of_a_kg_build_and_of_flat_figures():
    """The knowledge-graph backend has no LLM; figures written flat (not nested by stage) are found too."""
    from kedit.builder.export.card import summary_rows

    rows = dict(summary_rows([
        {"stage": "generate", "kedit_version": "0.1.0", "generate": {"generator": "kg", "calls": 0, "cost_usd": 0.0}},
        {"stage": "filter", "kedit_version": "0.1.0", "model": "tiny", "counts": {"kept": 3, "dropped": 1}},
        {"stage": "annotate", "kedit_version": "0.1.0", "fleiss_kappa": 0.7},
    ]))
    assert rows["Generator"] == "kg" and rows["Generator model"].startswith("none (knowledge-graph backend")
    assert rows["Cost"] == "0 USD" and rows["Tokens"] == rows["Generator model"]
    assert rows["Filter model"] == "tiny" and rows["Filter counts"] == "kept: 3, dropped: 1"
    assert rows["Annotation agreement"] == "0.7"
    assert rows["kedit version"] == f"generate 0.1.0, filter 0.1.0, annotate 0.1.0, export {__version__}"


def test_a_users_easyedit_file_exports_and_round_trips(tmp_path):
    from kedit.records import read_cases

    src = Path(__file__).resolve().parents[1] / "data" / "easyedit_zsre.json"
    out = tmp_path / "hf"
    assert kbuild(["export", "--in", str(src), "--out", str(out)]) == 0
    assert [c.to_dict() for c in read_export(out)] == [c.to_dict() for c in read_cases(src)]
    assert "| Generator model | not recorded |" in _body(out)


def test_read_cases_and_keval_take_an_exported_folder(tmp_path):
    from kedit.records import read_cases, read_jsonl

    src = read_jsonl(DEMO)
    out = tmp_path / "ds"
    assert kbuild(["export", "--in", str(DEMO), "--out", str(out)]) == 0
    assert [c.to_dict() for c in read_cases(out)] == [c.to_dict() for c in src]
    with pytest.raises(KeditError, match="not a dataset written by kbuild export"):
        read_cases(tmp_path)


def test_card_metadata_uses_the_hubs_field_names(demo_export, tmp_path):
    import inspect

    from huggingface_hub import DatasetCardData

    meta = _front_matter(demo_export)
    known = set(inspect.signature(DatasetCardData.__init__).parameters) | {"configs", "dataset_info", "tags"}
    assert set(meta) <= known, set(meta) - known
    assert meta["language"] == ["en"] and meta["multilinguality"] == "monolingual"
    assert meta["size_categories"] == ["n<1K"] and meta["source_datasets"] == ["original"]
    assert meta["annotations_creators"] == ["other"]  # a hand-written file: no stage recorded
    assert meta["license"] == "unknown" and "kbuild export --license ID" in _body(demo_export)
    out = tmp_path / "hf"
    assert kbuild(["export", "--in", str(DEMO), "--out", str(out), "--pretty-name", "Portability of capitals",
                   "--license", "cc-by-4.0"]) == 0
    meta = _front_matter(out)
    assert meta["pretty_name"] == "Portability of capitals" and meta["license"] == "cc-by-4.0"
    body = _body(out)
    assert body.startswith("# Portability of capitals") and "Released under `cc-by-4.0`" in body
    for section in ("## License", "## Limitations", "## Citation"):
        assert section in body, section
    assert "title        = {Portability of capitals}" in body and "@inproceedings{yao2023editing" in body


def test_card_without_a_pretty_name_uses_a_title_not_a_file_name():
    from kedit.builder.export.card import DEFAULT_PRETTY_NAME, render_card

    stats = {EDITS: {"num_examples": 12_345, "num_bytes": 10, "download_size": 10}}
    card = render_card(stats=stats, probe_counts={s: 0 for s in SPLITS}, entries=[], input_desc={"path": "bench.jsonl"},
                       pretty_name=None)
    assert f"pretty_name: {DEFAULT_PRETTY_NAME}" in card and f"\n# {DEFAULT_PRETTY_NAME}\n" in card
    assert "- 10K<n<100K" in card


@pytest.mark.parametrize("n,bucket", [(0, "n<1K"), (999, "n<1K"), (1_000, "1K<n<10K"), (250_000, "100K<n<1M"),
                                      (5 * 10**9, "n>1B")])
def test_size_categories_are_the_hubs_buckets(n, bucket):
    from kedit.builder.export.card import size_category

    assert size_category(n) == bucket


def test_card_of_a_kg_build_states_the_sources_licences(tmp_path, offline):
    from datasets import load_dataset

    cases = read_jsonl(DEMO)[:3]
    seeds = tmp_path / "seeds.jsonl"
    write_jsonl(cases, seeds)
    gen = tmp_path / "gen.jsonl"
    write_jsonl(cases, gen)
    write_manifest(gen, "generate", input_path=seeds, figures={"generate": {"backend": "kg", "generator": "kg",
                                                                            "kg": "kg", "calls": 0, "cost_usd": 0.0}})
    out = tmp_path / "hf"
    assert kbuild(["export", "--in", str(gen), "--out", str(out), "--pretty-name", "KG portability"]) == 0
    meta = _front_matter(out)
    assert meta["annotations_creators"] == ["machine-generated"] and meta["language_creators"] == ["machine-generated"]
    body = _body(out)
    for terms in ("GeoNames (geonames.org)", "CC BY 4.0", "pycountry", "LGPL-2.1-only", "countryinfo: MIT"):
        assert terms in body, terms
    assert "template sentences" in body and "have not been verified by people" in body
    # the front matter stays what load_dataset reads: the default config, without a name
    assert load_dataset(str(out), split=SPLIT, cache_dir=str(offline)).num_rows == 3


def test_card_of_an_annotated_llm_build(tmp_path):
    bench = _chain(tmp_path, read_jsonl(DEMO)[:2], ("generate", "filter", "annotate"))
    out = tmp_path / "hf"
    assert kbuild(["export", "--in", str(bench), "--out", str(out), "--license", "mit"]) == 0
    meta = _front_matter(out)
    assert meta["annotations_creators"] == ["machine-generated", "expert-generated"]
    body = _body(out)
    assert "written by a language model (gpt-4o-2024-08-06" in body and "GeoNames" not in body
    assert "because `smollm2-135m` knew their original facts" in body and "verified by people" not in body
