"""Where the caches live: KEDIT_CACHE for all of them, KEDIT_CACHE_<KIND> for one kind."""

from __future__ import annotations

from kedit.settings import cache_dir, cache_root


def test_one_kind_can_live_elsewhere(tmp_path, monkeypatch):
    monkeypatch.setenv("KEDIT_CACHE", str(tmp_path / "all"))
    monkeypatch.delenv("KEDIT_CACHE_VALUES", raising=False)
    assert cache_dir("values") == tmp_path / "all" / "values"
    monkeypatch.setenv("KEDIT_CACHE_VALUES", str(tmp_path / "repo" / "values"))
    assert cache_dir("values") == tmp_path / "repo" / "values"
    assert cache_dir("values").is_dir()  # made on first use
    assert cache_dir("stats") == tmp_path / "all" / "stats"  # the other kinds stay under KEDIT_CACHE
    assert cache_root() == tmp_path / "all"
