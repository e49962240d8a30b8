"""``keval report --by axis``: scored probes grouped by the benchmark's own axes (a probe's
provenance ``axis``, else its split), with the headline metric's mean and n."""

from __future__ import annotations

import dataclasses

import kedit
from kedit.eval.axes import axis_markdown, axis_table
from kedit.eval.cli import main
from kedit.records import write_jsonl
from tests.fixtures.hparams import TINY_OVERRIDES


def with_axes(case):
    """one_hop probes alternate between two axes, as RippleEdits' Compositionality I and II."""
    probes, k = [], 0
    for p in case.probes:
        if p.split == "one_hop":
            p = dataclasses.replace(p, provenance={**p.provenance, "axis": f"Compositionality_{'I' * (1 + k % 2)}"})
            k += 1
        probes.append(p)
    return dataclasses.replace(case, probes=tuple(probes))


def test_probes_are_grouped_by_their_axis(tiny_kg, tmp_path, capsys):
    cases = [with_axes(c) for c in tiny_kg.cases[:3]]
    bench = write_jsonl(cases, tmp_path / "bench.jsonl")
    rep = kedit.evaluate(tiny_kg.model, tiny_kg.tokenizer, cases, ["ft-l"], hparams={"ft-l": TINY_OVERRIDES["ft-l"]},
                         progress=False, out=tmp_path / "run", config={"bench": str(bench)})
    rows = axis_table(rep.results, cases)
    hops = {r["axis"]: r for r in rows if r["split"] == "one_hop"}
    assert set(hops) <= {"Compositionality_I", "Compositionality_II"} and hops
    executed = [p for r in rep.results for p in r.probes if p.split == "one_hop" and p.executed and not p.written]
    assert sum(r["n"] for r in hops.values()) == len(executed)
    mean = sum(p.metrics["gen_em"].post for p in executed) / len(executed)
    assert abs(sum(r["value"] * r["n"] for r in hops.values()) / len(executed) - mean) < 1e-9
    assert {r["axis"] for r in rows if r["split"] == "reliability"} == {"reliability"}  # no axis: the split
    assert all(r["metric"] == "gen_em" for r in rows)
    assert "| one_hop | Compositionality_I |" in axis_markdown(rows)
    assert main(["report", str(tmp_path / "run"), "--by", "axis"]) == 0
    assert "by the benchmark's axes: gen_em" in capsys.readouterr().out
