"""``kbuild export --to easyedit|knowedit``: the demo benchmark written in the field's formats and read
back (kedit -> format -> kedit), what the formats cannot carry counted, and the fields EasyEdit's
KnowEdit loader reads present."""

from __future__ import annotations

import json

import pytest

from kedit.builder.cli import main as kbuild
from kedit.records import read_cases, read_jsonl
from kedit.records.writers import write_cases
from kedit.settings import data_root

DEMO = data_root() / "demo" / "bench.jsonl"
CARRIED = ("reliability", "generalization", "locality", "subject_replace", "reverse_relation", "one_hop",
           "other_relation", "distract_neighbor")


def carried(case):
    return sorted((p.split, p.prompt, p.answers, p.expect) for p in case.probes if p.split in CARRIED)


@pytest.mark.parametrize("to", ["easyedit", "knowedit"])
def test_the_round_trip_keeps_every_probe_the_format_carries(to, tmp_path):
    cases = read_jsonl(DEMO)
    summary = write_cases(cases, tmp_path / "bench.json", to)
    assert summary["cases"] == len(cases) == 63
    assert summary["not_carried"] == {"probe conditions": 63, "commonsense probes": 63}
    back = read_cases(tmp_path / "bench.json")  # detected: the knowedit reader
    assert {c.provenance["source_format"] for c in back} == {"knowedit"}
    assert [c.case_id for c in back] == [c.case_id for c in cases]
    for a, b in zip(cases, back):
        assert (a.subject, a.prompt, a.target_new, a.target_true) == (b.subject, b.prompt, b.target_new, b.target_true)
        assert carried(a) == carried(b)


def test_knowedit_keys_are_the_ones_easyedits_loader_reads(tmp_path):
    """easyeditor/dataset/knowedit.py reads subject, prompt, target_new, ground_truth, portability's Reasoning /
    Subject_Aliasing / Logical_Generalization and locality's Relation_Specificity / Forgetfulness (a locality
    object must be there); its collate takes the first locality entry's prompt and ground_truth[0]."""
    write_cases(read_jsonl(DEMO), tmp_path / "k.json", "knowedit")
    records = json.loads((tmp_path / "k.json").read_text())
    for r in records:
        assert {"subject", "prompt", "target_new", "ground_truth", "portability", "locality"} <= set(r)
        assert isinstance(r["locality"], dict) and r["locality"]["Relation_Specificity"][0]["ground_truth"][0]
        assert {"Reasoning", "Subject_Aliasing"} <= set(r["portability"])
        assert all(isinstance(e["prompt"], str) for e in r["portability"]["Reasoning"])


def test_a_multi_edit_case_is_left_out_and_counted(tmp_path):
    cases = read_cases("tests/data/mquake.json")
    summary = write_cases(cases, tmp_path / "m.json", "easyedit")
    multi = sum(bool(c.more_edits) for c in cases)
    assert multi and summary["not_carried"]["cases with several edits (left out)"] == multi
    assert summary["cases"] == len(cases) - multi


def test_the_command_line(tmp_path, capsys):
    out = tmp_path / "demo.json"
    assert kbuild(["export", "--in", str(DEMO), "--out", str(out), "--to", "knowedit"]) == 0
    printed = capsys.readouterr().out
    assert "63 cases" in printed and "not carried by the format: probe conditions 63" in printed
    assert (tmp_path / "demo.manifest.json").is_file()
    assert kbuild(["export", "--in", str(DEMO), "--out", str(out), "--to", "knowedit"]) == 0  # its own file: replaced
    mine = tmp_path / "mine.json"
    mine.write_text("[]")
    assert kbuild(["export", "--in", str(DEMO), "--out", str(mine), "--to", "easyedit"]) == 2
    assert "pass --overwrite" in capsys.readouterr().err and mine.read_text() == "[]"
    assert kbuild(["export", "--in", str(DEMO), "--out", str(out), "--to", "easyedit", "--push-to-hub", "a/b"]) == 2
    assert kbuild(["export", "--in", str(DEMO), "--out", str(out), "--to", "easyeditt"]) == 2
    assert "did you mean 'easyedit'" in capsys.readouterr().err
