"""keval report over several run folders: editors run as separate jobs, one summary."""

from __future__ import annotations

import pytest

import kedit
from kedit.errors import KeditError
from kedit.eval.cli import main
from kedit import merge_reports
from tests.fixtures.hparams import TINY_OVERRIDES


@pytest.fixture(scope="module")
def two_runs(tiny_kg, tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    for name in ("ft-l", "rome"):
        kedit.evaluate(tiny_kg.model, tiny_kg.tokenizer, tiny_kg.cases[:3], editors=[name], mode="sequential", every=1,
                       hparams={name: TINY_OVERRIDES[name]}, progress=False, generate=False, out=root / name)
    return root


def test_folders_of_other_editors_merge_into_one_summary_with_its_decay_curves(two_runs, capsys):
    out = two_runs / "merged"
    assert main(["report", str(two_runs / "ft-l"), str(two_runs / "rome"), "--out", str(out), "-q"]) == 0
    assert "| ft-l |" in capsys.readouterr().out
    merged = merge_reports([two_runs / "ft-l", two_runs / "rome"])
    alone = {r: kedit.load_report(two_runs / r) for r in ("ft-l", "rome")}
    assert set(merged.rows) == set(alone["ft-l"].rows + alone["rome"].rows)
    decay = (out / "decay.csv").read_text()
    assert "ft-l,3," in decay and "rome,3," in decay
    assert (out / "summary.md").is_file() and (out / "summary.csv").is_file()
    assert main(["report", str(two_runs / "ft-l"), str(two_runs / "rome"), "--out", str(out), "-q"]) == 0  # rewritable


def test_a_result_in_two_folders_or_a_busy_out_folder_is_refused(two_runs, capsys):
    with pytest.raises(KeditError, match="in both"):
        merge_reports([two_runs / "rome", two_runs / "rome"])
    assert main(["report", str(two_runs / "ft-l"), str(two_runs / "rome"), "--out", str(two_runs / "ft-l")]) == 2
    assert "holds other files" in capsys.readouterr().err
