"""Build manifests: written beside the records, chained through upstream, flattened oldest first."""

from __future__ import annotations

import hashlib

from kedit import __version__
from kedit.records.manifest import manifest_path, read_manifest, stage_entries, write_manifest


def test_manifest_chain(tmp_path):
    seeds = tmp_path / "seeds.jsonl"
    seeds.write_text("{}\n")
    gen = tmp_path / "gen.jsonl"
    gen.write_text("{}\n{}\n")
    bench = tmp_path / "bench.filtered.jsonl"
    bench.write_text("{}\n")
    assert read_manifest(seeds) is None  # a user's own file has none
    write_manifest(gen, "generate", input_path=seeds, figures={"generate": {"calls": 3}})
    mp = write_manifest(bench, "filter", input_path=gen, figures={"filter": {"kept": 1}})
    assert mp == manifest_path(bench) == tmp_path / "bench.filtered.manifest.json"
    m = read_manifest(bench)
    assert m["kedit_version"] == __version__ and m["stage"] == "filter"
    assert m["output"]["sha256"] == hashlib.sha256(bench.read_bytes()).hexdigest()
    assert m["input"]["sha256"] == hashlib.sha256(gen.read_bytes()).hexdigest()
    assert m["upstream"]["stage"] == "generate" and m["upstream"]["upstream"] is None
    stages = list(stage_entries(m))
    assert [s["stage"] for s in stages] == ["generate", "filter"]
    assert stages[0]["generate"] == {"calls": 3} and "upstream" not in stages[0]
