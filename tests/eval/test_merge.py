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


def test_a_merge_of_runs_with_and_without_generation_leads_with_the_metric_they_share():
    """gen_em heads a mode only where every editor of it has gen_em; else token_acc, which all have."""
    from kedit.eval.report import SummaryRow, headline, metrics_by_mode

    rows = [SummaryRow("old", "batch", "reliability", "token_acc", 0.8, 10),
            SummaryRow("new", "batch", "reliability", "token_acc", 0.5, 10),
            SummaryRow("new", "batch", "reliability", "gen_em", 0.1, 10),
            SummaryRow("new", "batch", "efficiency", "seconds_per_edit", 2.0, 10)]
    assert metrics_by_mode(rows)["batch"] == {"token_acc"}
    text = "\n".join(headline(rows))
    assert "### batch: token_acc post-edit" in text and "| old | 0.800, 10 |" in text and "| new | 0.500, 10 |" in text
    assert metrics_by_mode(rows[1:])["batch"] == {"token_acc", "gen_em"}
