"""kbuild export --push-to-hub. The Hub cannot be reached from the test machines, so these tests check
only the arguments kedit passes to a replaced ``HfApi`` (and that the token is written nowhere); the
live test runs only when HF_TOKEN is set and is reported as skipped otherwise."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from kedit.builder.cli import main as kbuild
from kedit.builder.export import hub
from kedit.records.hfdataset import CONFIGS, MARKER, data_file
from kedit.records.schema import CHAIN_SPLITS
from kedit.settings import data_root

DEMO = data_root() / "demo" / "bench.jsonl"
SECRET = "hf_kedit_test_token_5b9c0e"


class RecordingHfApi:
    """Stands in for huggingface_hub.HfApi: records each call and the files the folder holds at upload time."""

    calls: list[tuple[str, tuple, dict]] = []
    fail_with: Exception | None = None

    def create_repo(self, *args, **kwargs):
        self.calls.append(("create_repo", args, kwargs))
        if self.fail_with is not None:
            raise self.fail_with
        return f"https://huggingface.co/datasets/{args[0] if args else kwargs['repo_id']}"

    def upload_folder(self, *args, **kwargs):
        folder = Path(kwargs["folder_path"])
        files = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
        self.calls.append(("upload_folder", args, {**kwargs, "_files": files}))
        return "commit"


@pytest.fixture
def api(monkeypatch):
    RecordingHfApi.calls = []
    RecordingHfApi.fail_with = None
    monkeypatch.setattr(hub, "HfApi", RecordingHfApi)
    monkeypatch.setenv("HF_TOKEN", SECRET)
    return RecordingHfApi


def test_push_creates_the_repo_and_uploads_exactly_the_folder(tmp_path, api, capsys):
    out = tmp_path / "hf"
    assert kbuild(["export", "--in", str(DEMO), "--out", str(out), "--push-to-hub", "someone/kedit-demo", "--private"]) == 0
    (create, c_args, c_kw), (upload, u_args, u_kw) = api.calls
    assert create == "create_repo" and c_args == ("someone/kedit-demo",)
    assert c_kw == {"repo_type": "dataset", "private": True, "exist_ok": True, "token": SECRET}
    assert upload == "upload_folder" and u_args == ()
    assert u_kw["folder_path"] == str(out) and u_kw["repo_id"] == "someone/kedit-demo"
    assert u_kw["repo_type"] == "dataset" and u_kw["token"] == SECRET
    assert u_kw["_files"] == sorted(["README.md", MARKER] + [data_file(c) for c in CONFIGS if c not in CHAIN_SPLITS])
    assert "pushed to https://huggingface.co/datasets/someone/kedit-demo" in capsys.readouterr().out
    # the token is in no file kedit wrote
    for p in tmp_path.rglob("*"):
        if p.is_file():
            assert SECRET.encode() not in p.read_bytes(), p
    from kedit.records.manifest import read_manifest

    m = read_manifest(out)
    assert m["hub_repo"] == "someone/kedit-demo" and m["hub_private"] is True


def test_public_by_default(tmp_path, api):
    assert kbuild(["export", "--in", str(DEMO), "--out", str(tmp_path / "hf"), "--push-to-hub", "someone/x"]) == 0
    assert api.calls[0][2]["private"] is False


def test_missing_token_or_bad_repo_id_fail_before_writing(tmp_path, api, monkeypatch, capsys):
    out = tmp_path / "hf"
    assert kbuild(["export", "--in", str(DEMO), "--out", str(out), "--push-to-hub", "not a repo id!"]) == 2
    assert "not a valid repository id" in capsys.readouterr().err
    assert kbuild(["export", "--in", str(DEMO), "--out", str(out), "--push-to-hub", "noslash"]) == 2
    assert "NAMESPACE/NAME" in capsys.readouterr().err
    monkeypatch.delenv("HF_TOKEN")
    assert kbuild(["export", "--in", str(DEMO), "--out", str(out), "--push-to-hub", "someone/x"]) == 2
    assert "HF_TOKEN" in capsys.readouterr().err
    assert kbuild(["export", "--in", str(DEMO), "--out", str(out), "--private"]) == 2
    assert "--private applies only with --push-to-hub" in capsys.readouterr().err
    assert not out.exists() and api.calls == []


def test_a_failed_push_keeps_the_export(tmp_path, api, capsys):
    api.fail_with = ConnectionError("no route to host")
    out = tmp_path / "hf"
    assert kbuild(["export", "--in", str(DEMO), "--out", str(out), "--push-to-hub", "someone/x"]) == 2
    err = capsys.readouterr().err
    assert "ConnectionError: no route to host" in err and "is complete; rerun with --push-to-hub" in err
    assert (out / MARKER).is_file()
    assert SECRET not in err


@pytest.mark.skipif(not os.environ.get("HF_TOKEN"), reason="live Hub push: set HF_TOKEN (and optionally KEDIT_TEST_HUB_REPO)")
def test_live_push_to_the_hub(tmp_path):
    """Really creates a private dataset repo, uploads the demo export, checks its files and deletes it."""
    from huggingface_hub import HfApi

    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE")}
    token = os.environ["HF_TOKEN"]
    api = HfApi(token=token)
    repo = os.environ.get("KEDIT_TEST_HUB_REPO") or f"{api.whoami()['name']}/kedit-export-test-{uuid.uuid4().hex[:8]}"
    out = tmp_path / "hf"
    try:
        r = subprocess.run([sys.executable, "-m", "kedit.builder.cli", "export", "--in", str(DEMO), "--out", str(out),
                            "--push-to-hub", repo, "--private"], env=env, capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, r.stderr
        files = set(api.list_repo_files(repo, repo_type="dataset"))
        assert {"README.md", MARKER, *(data_file(c) for c in CONFIGS if c not in CHAIN_SPLITS)} <= files
    finally:
        if not os.environ.get("KEDIT_TEST_HUB_REPO"):
            api.delete_repo(repo, repo_type="dataset", missing_ok=True)
