"""Sweep files: the grid, and every mistake named with its key and line."""

from __future__ import annotations

import pytest

from kedit.errors import KeditError
from kedit.sweep import read_sweep


def test_the_grid_of_a_sweep_file(sweep_file):
    spec = read_sweep(sweep_file("seeds: [0, 1]\n"))
    cells = spec.cells()
    assert len(cells) == 1 * 2 * 2 * 2 * 1 * 2
    assert len({c.cell_id for c in cells}) == len(cells)
    rome = next(c for c in cells if c.editor == "rome")
    assert rome.hparams == sweep_file.tiny["rome"] and rome.label(1, 2) == "rome@s0" and rome.label(2, 1) == "rome[h0]"
    assert spec.generate is False and spec.batch_size == 3 and spec.seeds == [0, 1]


@pytest.mark.parametrize("text, message", [
    ("modes: [single]\nseedz: [1]\n", r"unknown sweep key 'seedz'; did you mean 'seeds'\?.*\(line {n} of"),
    ("editors: [rome, memitt]\n", r"unknown editor 'memitt'; did you mean 'memit'\?.*\(line {n} of"),
    ("modes: [single, sequentail]\n", r"unknown mode 'sequentail'.*\(line {n} of"),
    ("seeds: [-1]\n", r"'seeds' \(line {n} of .*\) must be an integer of at least 0"),
    ("limit: 0\n", r"'limit' \(line {n} of .*\) must be an integer of at least 1"),
    ("generate: maybe\n", r"'generate' \(line {n} of .*\) must be true or false"),
])
def test_mistakes_name_the_key_and_line(sweep_file, text, message):
    path = sweep_file()
    lines = open(path).read().splitlines()
    keep = [ln for ln in lines if not ln.startswith(text.split(":")[0] + ":")]  # the key given twice would be ambiguous
    with open(path, "w") as fh:
        fh.write("\n".join(keep) + "\n" + text)
    n = len(keep) + text.count("\n")  # the line of the last key written
    with pytest.raises(KeditError, match=message.format(n=n)):
        read_sweep(path)


def test_models_benches_and_hparams_are_checked(sweep_file, tmp_path):
    path = sweep_file(hparams=[{"rome": {"v_lrr": 1}}])
    with pytest.raises(KeditError, match=r"did you mean 'v_lr'.*\(line 5 of"):
        read_sweep(path)
    path = sweep_file(hparams=[{"kn": {}}])
    with pytest.raises(KeditError, match=r"names editor 'kn' \(line 5 of .*\), which is not in editors: ft-l, rome"):
        read_sweep(path)
    text = open(sweep_file()).read()
    (tmp_path / "m.yaml").write_text(text.replace("models: [", "models: [smollm2-13m, "))
    with pytest.raises(KeditError, match=r"unknown model 'smollm2-13m'; did you mean 'smollm2-135m'\?.*\(line 1 of"):
        read_sweep(tmp_path / "m.yaml")
    (tmp_path / "b.yaml").write_text(text.replace("benches: [", f"benches: [{tmp_path / 'none.jsonl'}, "))
    with pytest.raises(KeditError, match=r"none.jsonl \(line 2 of .*\) does not exist"):
        read_sweep(tmp_path / "b.yaml")
    (tmp_path / "e.yaml").write_text(text.replace("editors: [ft-l, rome]", "editors: rome"))
    with pytest.raises(KeditError, match=r"'editors' \(line 3 of .*\) must be a non-empty list"):
        read_sweep(tmp_path / "e.yaml")
    (tmp_path / "n.yaml").write_text("models: [a]\n")
    with pytest.raises(KeditError, match="the sweep needs benches, editors, modes"):
        read_sweep(tmp_path / "n.yaml")
    (tmp_path / "y.yaml").write_text("models: [a\n")
    with pytest.raises(KeditError, match="not valid YAML"):
        read_sweep(tmp_path / "y.yaml")
