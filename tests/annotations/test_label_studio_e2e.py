"""End to end against a real Label Studio: push the demo benchmark, two annotators, pull."""

import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from kedit.annotations.agreement import cohen_kappa
from kedit.annotations.cli import sibling
from kedit.builder.cli import main as kbuild
from kedit.records.jsonl import read_jsonl, write_jsonl
from kedit.records.manifest import manifest_path
from tests.fixtures.label_studio import annotate, project_tasks

DEMO = Path(__file__).resolve().parents[2] / "data" / "demo" / "bench.jsonl"


@pytest.fixture
def ls_env(label_studio, monkeypatch):
    monkeypatch.setenv("LABEL_STUDIO_URL", label_studio.url)
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", label_studio.token)
    monkeypatch.delenv("LABEL_STUDIO_USER_TOKEN", raising=False)
    return label_studio


def plan(i: int) -> tuple[tuple[str, int], tuple[str, int]]:
    """Simulated verdicts and fluency of annotators 1 and 2 on the i-th task."""
    v1 = "incorrect" if i % 9 == 0 else "correct"
    v2 = v1
    if i % 7 == 3:
        v2 = "incorrect" if v1 == "correct" else "correct"
    elif i % 23 == 5:
        v2 = "unsure"
    return (v1, 5 - (i % 3 == 0)), (v2, 4 + (i % 2))


def test_push_two_annotators_pull(ls_env, tmp_path, capsys):
    ls = ls_env
    t0 = time.perf_counter()
    title = "kedit demo verification"
    assert kbuild(["annotate", "push", "--in", str(DEMO), "--project", title, "--min-annotators", "2"]) == 0
    out = capsys.readouterr().out
    assert "created" in out and "imported 563 new, 0 already there" in out

    # pushing again imports nothing; a new case adds only its own tasks
    assert kbuild(["annotate", "push", "--in", str(DEMO), "--project", title]) == 0
    assert "imported 0 new, 563 already there" in capsys.readouterr().out
    cases = read_jsonl(DEMO)
    more = tmp_path / "more.jsonl"
    write_jsonl(cases + [type(cases[0])(**{**cases[0].__dict__, "case_id": "extra-001"})], more)
    assert kbuild(["annotate", "push", "--in", str(more), "--project", title]) == 0
    assert "imported 9 new, 563 already there" in capsys.readouterr().out

    admin = ls.client()
    pid = next(p["id"] for p in admin.get("/api/projects/", params={"title": title}).json()["results"] if p["title"] == title)
    assert admin.get(f"/api/projects/{pid}/").json()["maximum_annotations"] == 2
    tasks = sorted(project_tasks(admin, pid), key=lambda t: t["id"])
    assert len(tasks) == 572 and len({t["data"]["kedit_id"] for t in tasks}) == 572
    tasks = [t for t in tasks if t["data"]["case_id"] != "extra-001"]  # pull reads the demo file only

    a1, a2 = (ls.client(a.token) for a in ls.annotators)
    fix_q, fix_a, no_verdict = tasks[1], tasks[2], tasks[4]
    planned1, planned2, posts = [], [], []
    for i, t in enumerate(tasks):
        (v1, f1), (v2, f2) = plan(i)
        if t is fix_q:
            v1 = v2 = "correct"
        if t is fix_a:
            v1 = v2 = "correct"
        posts.append((a1, t["id"], v1, f1, "What is the capital city of France?" if t is fix_q else None,
                      "Berlin | the city of Berlin" if t is fix_a else None))
        if t is no_verdict:
            posts.append((a2, t["id"], None, f2, None, None))  # submitted without the required verdict
        else:
            posts.append((a2, t["id"], v2, f2, None, None))
            planned1.append(v1)
            planned2.append(v2)
    with ThreadPoolExecutor(4) as pool:  # annotators work at the same time
        list(pool.map(lambda a: annotate(*a), posts))

    t_post = time.perf_counter()
    verified = tmp_path / "verified.jsonl"
    assert kbuild(["annotate", "pull", "--in", str(DEMO), "--project", title, "--out", str(verified)]) == 0
    captured = capsys.readouterr()
    assert f"task {no_verdict['id']} (case {no_verdict['data']['case_id']}" in captured.err
    assert "required field 'verdict' is missing" in captured.err

    report = json.loads(sibling(verified, ".agreement.json").read_text())
    v = report["agreement"]["verdict"]
    expected = cohen_kappa(planned1, planned2)
    assert v["method"] == "cohen" and v["n_annotators"] == 2 and v["n_tasks"] == 562
    assert v["kappa"] == pytest.approx(expected, abs=1e-4)
    assert v["percent_agreement"] == pytest.approx(100 * sum(x == y for x, y in zip(planned1, planned2)) / 562, abs=0.01)
    assert set(report["agreement"]["per_split"]) == {"generalization", "locality", "subject_replace", "reverse_relation",
                                                     "one_hop", "other_relation", "distract_neighbor"}
    assert len(report["problems"]) == 1 and report["counts"]["tasks_annotated"] == 563
    print(f"push x3 + annotate {t_post - t0:.1f} s, pull {time.perf_counter() - t_post:.1f} s")
    print("agreement figures:", json.dumps({"verdict": v, "fluency": report["agreement"]["fluency"]}))

    out_cases = {c.case_id: c for c in read_jsonl(verified)}
    fixed = [p for c in out_cases.values() for p in c.probes if (p.provenance.get("annotation") or {}).get("corrected")]
    assert {p.prompt for p in fixed} >= {"What is the capital city of France?"}
    assert any(p.answers == ("Berlin", "the city of Berlin") for p in fixed)
    rejected = read_jsonl(sibling(verified, ".rejected.jsonl"))
    n_rej = sum(len(c.probes) for c in rejected)
    expect_rej = sum(1 for x, y in zip(planned1, planned2) if x == y == "incorrect")  # a 1:1 split is a tie: unsure
    assert n_rej == report["counts"]["rejected"] == expect_rej > 0
    assert all(p.provenance["annotation"]["adjudicated"] == "incorrect" and len(p.provenance["annotation"]["verdicts"]) == 2
               for c in rejected for p in c.probes)
    assert sum(len(c.probes) for c in out_cases.values()) == sum(len(c.probes) for c in cases) - n_rej
    manifest = json.loads(manifest_path(verified).read_text())
    assert manifest["stage"] == "annotate" and manifest["agreement"]["verdict"]["kappa"] == v["kappa"]
    assert manifest["input"]["path"] == str(DEMO) and "upstream" in manifest

    # publish what was verified: the Hugging Face layout, loaded back offline with datasets
    from datasets import load_dataset

    from kedit.records.hfdataset import CONFIGS
    from kedit.records.schema import CHAIN_SPLITS

    ds = tmp_path / "dataset"
    assert kbuild(["export", "--in", str(verified), "--out", str(ds)]) == 0
    card = (ds / "README.md").read_text()
    assert f"kappa: {v['kappa']}" in card  # the agreement reaches the dataset card
    for cfg in (c for c in CONFIGS if c not in CHAIN_SPLITS):
        rows = load_dataset(str(ds), name=cfg, cache_dir=str(tmp_path / "hf-cache"))["test"]
        if cfg == "edits":
            assert len(rows) == len(out_cases)
        else:
            assert len(rows) == sum(len(c.probes_of(cfg)) for c in out_cases.values())


def test_bad_input_and_unreachable_server(label_studio, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", label_studio.token)
    monkeypatch.delenv("LABEL_STUDIO_URL", raising=False)
    from kedit.annotations.server import free_port

    dead = f"http://127.0.0.1:{free_port()}"
    assert kbuild(["annotate", "push", "--in", str(DEMO), "--project", "x-unreachable", "--url", dead]) == 2
    err = capsys.readouterr().err
    assert "cannot reach Label Studio" in err and "Traceback" not in err

    monkeypatch.setenv("LABEL_STUDIO_API_KEY", "0" * 40)
    assert kbuild(["annotate", "push", "--in", str(DEMO), "--project", "x-token", "--url", label_studio.url]) == 2
    assert "rejected the API token" in capsys.readouterr().err

    bad = tmp_path / "bad.jsonl"
    bad.write_text(DEMO.read_text().splitlines()[0].replace('"split": "locality"', '"split": "localty"', 1) + "\n")
    out = tmp_path / "verified.jsonl"
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", label_studio.token)
    assert kbuild(["annotate", "pull", "--in", str(bad), "--project", "x", "--out", str(out), "--url", label_studio.url]) == 2
    err = capsys.readouterr().err
    assert "did you mean 'locality'" in err and "line 1" in err
    assert not out.exists() and not sibling(out, ".agreement.json").exists()

    assert kbuild(["annotate", "pull", "--in", str(DEMO), "--project", "no such project", "--out", str(out),
                   "--url", label_studio.url]) == 2
    assert "run `kbuild annotate push` first" in capsys.readouterr().err
