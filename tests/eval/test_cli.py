"""keval's command line: ls, --version, --config with flags overriding it, report with other weights."""

from __future__ import annotations

import json

import pytest

from kedit import __version__
from kedit.eval.cli import LS_KINDS, main
from kedit.records import write_jsonl
from tests.fixtures.hparams import TINY_OVERRIDES


@pytest.mark.parametrize("kind", LS_KINDS)
def test_ls_lists_every_registered_name_with_a_description(kind, capsys):
    import kedit

    assert main(["ls", kind]) == 0
    out = capsys.readouterr().out
    names = {"editors": kedit.EDITORS, "formats": kedit.FORMATS, "metrics": kedit.METRICS, "backends": kedit.BACKENDS}
    expected = names[kind].names() if kind in names else ["smollm2-135m"]
    lines = {line.split()[0]: line for line in out.splitlines()}
    for name in expected:
        assert name in lines and len(lines[name].split(None, 1)) == 2, f"{name} has no description"
    if kind == "editors":
        assert "modes: single, batch, sequential" in lines["rome"]


def test_version(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0 and capsys.readouterr().out.strip() == f"kedit {__version__}"


def test_config_file_gives_the_options_and_flags_override_it(tiny_kg, tmp_path, capsys):
    bench = write_jsonl(tiny_kg.cases[:3], tmp_path / "bench.jsonl")
    cfg = tmp_path / "run.yaml"
    cfg.write_text(
        f"model: {tiny_kg.path}\nbench: {bench}\neditors: [ft-l]\nmode: single\nout: {tmp_path / 'from-file'}\n"
        f"limit: 3\nhparams:\n  ft-l: {json.dumps(TINY_OVERRIDES['ft-l'])}\n")
    assert main(["run", "--config", str(cfg), "--limit", "2", "--out", str(tmp_path / "flag"), "-q"]) == 0
    conf = json.loads((tmp_path / "flag" / "config.json").read_text())
    assert conf["limit"] == 2 and conf["n_cases"] == 2  # the flag won
    assert conf["hparams"]["ft-l"]["num_steps"] == TINY_OVERRIDES["ft-l"]["num_steps"]  # the file's hparams applied
    assert not (tmp_path / "from-file").exists()
    cfg.write_text("benchh: x\n")
    capsys.readouterr()
    assert main(["run", "--config", str(cfg)]) == 2
    assert "did you mean 'bench'" in capsys.readouterr().err
    assert main(["run", "--bench", str(bench), "--editors", "ft-l", "--out", str(tmp_path / "x")]) == 2
    assert "--model is required" in capsys.readouterr().err


def test_runtime_options_reach_the_run(tiny_kg, tmp_path):
    """--dtype, --batch-tokens and --max-batch are the run's runtime (config.json), and a bfloat16 run
    is its own (resuming it in float32 is refused)."""
    bench = write_jsonl(tiny_kg.cases[:2], tmp_path / "bench.jsonl")
    out = tmp_path / "bf16"
    args = ["run", "--model", str(tiny_kg.path), "--bench", str(bench), "--editors", "ft-l", "--out", str(out), "-q",
            "--no-generate", "--device", "auto"]
    for k, v in TINY_OVERRIDES["ft-l"].items():
        args += ["--hparam", f"ft-l.{k}={v}"]
    assert main(args + ["--dtype", "bfloat16", "--batch-tokens", "256", "--max-batch", "4"]) == 0
    conf = json.loads((out / "config.json").read_text())
    assert conf["runtime"] == {"device": "cpu", "dtype": "bfloat16", "batch_tokens": 256, "max_batch": 4, "device_map": None}
    assert conf["dtype"] == "bfloat16" and conf["model_fingerprint"].endswith(":bfloat16")
    assert main(args) == 2  # float32 on the bfloat16 folder


@pytest.fixture()
def finished_run(tiny_kg, tmp_path):
    """An FT-L run on two tiny-model cases."""
    bench = write_jsonl(tiny_kg.cases[:2], tmp_path / "bench.jsonl")
    out = tmp_path / "run"
    args = ["run", "--model", str(tiny_kg.path), "--bench", str(bench), "--editors", "ft-l", "--out", str(out), "-q"]
    for k, v in TINY_OVERRIDES["ft-l"].items():
        args += ["--hparam", f"ft-l.{k}={v}"]
    assert main(args) == 0
    return out


def test_report_with_other_weights_writes_its_own_ranking_file(finished_run, capsys):
    out = finished_run
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    capsys.readouterr()
    assert main(["report", str(out), "--weights", "portability=2,locality=1"]) == 0
    printed = capsys.readouterr().out
    assert "portability=2" in printed and "ranking-portability2-locality1.json" in printed
    new = json.loads((out / "ranking-portability2-locality1.json").read_text())
    assert new["weights"] == {"portability": 2.0, "locality": 1.0}
    after = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file() and p.name in before}
    assert after == before  # the run's own summary.md and ranking.json stay as the run wrote them


def test_report_under_easyedit_names(finished_run, capsys):
    out = finished_run
    capsys.readouterr()
    assert main(["report", str(out), "--names", "easyedit"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0] == "| editor | mode | rewrite_acc | rephrase_acc | locality | portability |"
    row = table[2].split("|")
    assert row[1].strip() == "ft-l" and float(row[3]) == 1.0  # rewrite_acc: the edits took (token_acc of reliability)
