"""Bad command-line input, table-driven: exit code 2, one line that says what to do, no traceback,
and no existing file changed (every file under the test folder is compared byte for byte)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from kedit.builder.cli import main as kbuild
from kedit.eval.cli import main as keval
from kedit.records import write_jsonl

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "data" / "demo" / "bench.jsonl"


@pytest.fixture()
def world(tmp_path, tiny_kg):
    """A folder with a benchmark, a user's own files and a model path; {name} in a case expands to them."""
    bench = write_jsonl(tiny_kg.cases[:3], tmp_path / "bench.jsonl")
    (tmp_path / "notes.jsonl").write_text('{"mine": true}\n')
    (tmp_path / "folder").mkdir()
    (tmp_path / "folder" / "keep.txt").write_text("keep")
    (tmp_path / "bad_utf8.jsonl").write_bytes(b"\xff\n")
    (tmp_path / "deep.jsonl").write_text("[" * 100_000 + "\n")
    (tmp_path / "huge_int.jsonl").write_text("1" * 4301 + "\n")
    (tmp_path / "empty.jsonl").write_text("")
    return {"dir": tmp_path, "bench": str(bench), "model": str(tiny_kg.path), "notes": str(tmp_path / "notes.jsonl"),
            "folder": str(tmp_path / "folder"), "new": str(tmp_path / "new"), "utf8": str(tmp_path / "bad_utf8.jsonl"),
            "deep": str(tmp_path / "deep.jsonl"), "huge": str(tmp_path / "huge_int.jsonl"),
            "empty": str(tmp_path / "empty.jsonl")}


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


KEVAL = "run --model {model} --bench {bench} --editors ft-l --out {new}"
CASES = [
    # keval: numbers, devices, hyper-parameters, benchmarks, outputs
    ("keval", KEVAL + " --limit 0", "--limit: must be at least 1"),
    ("keval", KEVAL + " --limit -1", "--limit: must be at least 1"),
    ("keval", KEVAL + " --batch-size 0 --mode batch", "--batch-size: must be at least 1"),
    ("keval", KEVAL + " --batch-size -1 --mode batch", "--batch-size: must be at least 1"),
    ("keval", KEVAL + " --threads -1", "--threads: must be at least 1"),
    ("keval", KEVAL + " --every -1 --mode sequential", "--every: must be at least 0"),
    ("keval", KEVAL + " --turn-size 0 --mode sequential", "--turn-size: must be at least 1"),
    ("keval", KEVAL + " --turn-size 4 --mode batch", "--turn-size is for --mode sequential"),
    ("keval", KEVAL + " --device bogus", "unknown device 'bogus'"),
    ("keval", KEVAL + " --device cuda", "no CUDA device"),
    ("keval", KEVAL + " --dtype fp8", "unknown dtype 'fp8'"),
    ("keval", KEVAL + " --batch-tokens -5", "--batch-tokens: must be at least 0"),
    ("keval", KEVAL + " --max-batch 0", "--max-batch: must be at least 1"),
    ("keval", KEVAL + " --device-map {empty}", "not JSON"),
    ("keval", KEVAL + " --device-map {notes}", "does not place every weight"),
    ("keval", KEVAL + " --device-map {new}.json", "give auto, balanced, sequential or a JSON file"),
    ("keval", KEVAL + " --mode singel", "did you mean 'single'"),
    ("keval", KEVAL + " --hparam ft-l.lr=.nan", "must be a finite number"),
    ("keval", KEVAL + " --hparam ft-l.lr=[1", "not valid YAML"),
    ("keval", KEVAL + " --hparam ft-l.layers=[9]", "out of range"),
    ("keval", KEVAL + " --weights portability=x", "is not a number"),
    ("keval", KEVAL + " --closure kgg", "did you mean 'kg'"),
    ("keval", KEVAL + " --closure-depth -1", "--closure-depth: must be at least 0"),
    ("keval", KEVAL + " --closure kg --closure-phrasing paraphrse", "did you mean 'paraphrase'"),
    ("keval", KEVAL + " --closure kg --kg {folder}", "relations.jsonl"),
    ("keval", KEVAL + " --closure kg --kg {new}", "no such folder"),
    ("keval", KEVAL + " --closure llm --closure-base-url http://127.0.0.1:9/v1 --closure-prompt-version v9",
     "unknown prompt version 'closure.v9'"),
    ("keval", KEVAL + " --closure lmm", "did you mean 'llm'"),
    ("keval", KEVAL + " --judge openai --judge-base-url http://127.0.0.1:9/v1 --no-generate", "--judge grades generations"),
    ("keval", "run --model {model} --bench {folder} --editors ft-l --out {new}", "not a dataset written by kbuild export"),
    ("keval", "run --model {model} --bench {utf8} --editors ft-l --out {new}", "bad_utf8.jsonl"),
    ("keval", "run --model {model} --bench {deep} --editors ft-l --out {new}", "deep.jsonl"),
    ("keval", "run --model {model} --bench {huge} --editors ft-l --out {new}", "huge_int.jsonl"),
    ("keval", "run --model {model} --bench {empty} --editors ft-l --out {new}", "empty.jsonl"),
    ("keval", "run --model {model} --bench {bench} --editors ft-l --out {notes}", "notes.jsonl"),
    ("keval", "run --model nowhere/at-all-x --bench {bench} --editors ft-l --out {new}", "could not load model"),
    ("keval", "report {folder}", "not a keval run folder"),
    # kbuild generate
    ("kbuild", "generate --backend kg --in {bench} --out {new}.jsonl --limit 0", "--limit: must be at least 1"),
    ("kbuild", "generate --backend kg --in {bench} --out {new}.jsonl --neighbors -1", "--neighbors: must be at least 0"),
    ("kbuild", "generate --backend kg --in {bench} --out {new}.jsonl --concurrency 0", "--concurrency: must be at least 1"),
    ("kbuild", "generate --backend kg --in {bench} --out {bench}", "is the input file"),
    ("kbuild", "generate --backend kg --in {bench} --out {notes}", "pass --overwrite"),
    ("kbuild", "generate --backend kg --in {bench} --out {folder}", "is a folder"),
    ("kbuild", "generate --backend kg --in {bench} --out {notes}/x.jsonl", "notes.jsonl"),
    ("kbuild", "generate --backend kgg --in {bench} --out {new}.jsonl", "did you mean 'kg'"),
    ("kbuild", "generate --backend kg --in {utf8} --out {new}.jsonl", "bad_utf8.jsonl"),
    ("kbuild", "generate --backend kg --in {deep} --out {new}.jsonl", "deep.jsonl"),
    # kbuild filter
    ("kbuild", "filter --model {model} --in {bench} --out {bench}", "is the input file"),
    ("kbuild", "filter --model {model} --in {bench} --out {notes}", "pass --overwrite"),
    ("kbuild", "filter --model {model} --in {bench} --out {new}.jsonl --threads 0", "--threads: must be at least 1"),
    ("kbuild", "filter --model {model} --in {bench} --out {new}.jsonl --device bogus", "unknown device"),
    ("kbuild", "filter --model {model} --in {huge} --out {new}.jsonl", "huge_int.jsonl"),
    # kbuild export
    ("kbuild", "export --in {bench} --out {folder}", "pass --overwrite"),
    ("kbuild", "export --in {bench} --out {notes}", "is a file"),
    ("kbuild", "export --in {utf8} --out {new}", "bad_utf8.jsonl"),
]


@pytest.mark.parametrize("cli, args, message", CASES, ids=[f"{c} {a.split()[0]} {m}" for c, a, m in CASES])
def test_bad_input_is_one_clear_line_and_changes_nothing(world, capsys, cli, args, message):
    root = world["dir"]
    before = snapshot(root)
    argv = [a.format(**world) for a in args.split()]
    rc = call(keval if cli == "keval" else kbuild, argv)
    err = capsys.readouterr().err
    assert rc == 2, err
    assert message in err, err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip() and not line.startswith("usage:") and not line.startswith(" ")]
    assert len(lines) == 1, err
    assert snapshot(root) == before
    assert not Path(world["new"]).exists() and not Path(world["new"] + ".jsonl").exists()


def call(main, argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as e:  # argparse refuses a value itself (usage line + one error line)
        return int(e.code)


def test_two_generate_runs_on_one_out_cannot_both_write(world, tmp_path, capsys):
    out = tmp_path / "gen.jsonl"
    holder = subprocess.Popen([sys.executable, "-c", "import time; from kedit.builder.outputs import lock_for; "
                               f"from pathlib import Path; lock_for(Path({str(out)!r})).acquire(); print('held', flush=True); "
                               "time.sleep(60)"], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        assert holder.stdout.readline().strip() == "held"
        assert kbuild(["generate", "--backend", "kg", "--in", world["bench"], "--out", str(out)]) == 2
        assert f"in use by PID {holder.pid}" in capsys.readouterr().err
        assert not out.exists()
    finally:
        holder.kill()
        holder.wait()
    assert kbuild(["generate", "--backend", "kg", "--in", world["bench"], "--out", str(out)]) == 0  # stale lock taken over
    assert not out.with_name(out.name + ".lock").exists() and not out.with_name("gen.partial.json").exists()


def test_generate_resumes_its_own_output_and_refuses_other_options(world, tmp_path, capsys):
    out = tmp_path / "gen.jsonl"
    assert kbuild(["generate", "--backend", "kg", "--in", world["bench"], "--out", str(out)]) == 0
    first = out.read_bytes()
    assert kbuild(["generate", "--backend", "kg", "--in", world["bench"], "--out", str(out)]) == 0  # same run: allowed
    assert out.read_bytes() == first
    capsys.readouterr()
    assert kbuild(["generate", "--backend", "kg", "--in", world["bench"], "--out", str(out), "--limit", "2"]) == 2
    assert "other options" in capsys.readouterr().err and out.read_bytes() == first
    assert kbuild(["generate", "--backend", "kg", "--in", world["bench"], "--out", str(out), "--limit", "2",
                   "--overwrite"]) == 0
    assert len(out.read_text().splitlines()) == 2
    m = json.loads(out.with_name("gen.manifest.json").read_text())
    assert m["generate"]["seeds"] == 2 and m["generate"]["identity"]["backend"] == "kg"


def test_read_only_output_folder_is_a_clear_error(world, tmp_path, capsys):
    if os.geteuid() == 0:
        pytest.skip("root writes into read-only folders")
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        assert kbuild(["generate", "--backend", "kg", "--in", world["bench"], "--out", str(ro / "x.jsonl")]) == 2
        assert "permission denied" in capsys.readouterr().err
    finally:
        ro.chmod(0o755)
