"""The Label Studio child's environment: an allow-list of ours, then Label Studio's settings (no server)."""

from kedit.annotations.server import inherited, server_env

PARENT = {
    "PATH": "/usr/bin", "HOME": "/home/u", "USER": "u", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "TZ": "UTC",
    "TMPDIR": "/tmp/u", "XDG_CACHE_HOME": "/home/u/.cache", "LD_LIBRARY_PATH": "/opt/lib",
    # secrets, by name
    "OPENAI_API_KEY": "sk-x", "HF_TOKEN": "hf_x", "HUGGING_FACE_HUB_TOKEN": "hf_y", "AWS_SECRET_ACCESS_KEY": "a",
    "GITHUB_TOKEN": "g", "PGPASSWORD": "p", "XDG_ACTIVATION_TOKEN": "t", "GOOGLE_APPLICATION_CREDENTIALS": "/c.json",
    # the user's own Label Studio / Django settings, and bare names Label Studio would read
    "LABEL_STUDIO_API_KEY": "mine", "LABEL_STUDIO_PORT": "9999", "DJANGO_DB": "postgresql", "USERNAME": "u",
    "PASSWORD": "p", "PORT": "1", "HOST": "0.0.0.0",
    # kedit's interpreter, not Label Studio's; proxies may carry credentials
    "PYTHONPATH": "/work/main", "PYTHONHOME": "/opt/py", "VIRTUAL_ENV": "/work/main/.venv",
    "HTTPS_PROXY": "http://u:p@proxy:3128", "SENTRY_DSN": "https://key@sentry.io/1", "SOMETHING_ELSE": "x",
}
KEPT = {"PATH", "HOME", "USER", "LANG", "LC_ALL", "TZ", "TMPDIR", "XDG_CACHE_HOME", "LD_LIBRARY_PATH"}


def test_only_the_allow_list_is_inherited():
    env = server_env(base=PARENT)
    assert {k for k in PARENT if k in env and env[k] == PARENT[k]} == KEPT
    assert not any(w in k for k in env for w in ("KEY", "SECRET", "PASSWORD", "CREDENTIAL", "PROXY"))
    assert [k for k in env if "TOKEN" in k] == ["LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN"]  # a switch; no token unless given
    assert env["SENTRY_DSN"] == env["FRONTEND_SENTRY_DSN"] == ""  # set empty: it would call out
    assert env["LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN"] == "true" and env["PYTHONUNBUFFERED"] == "1"
    assert not {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "DJANGO_DB", "LABEL_STUDIO_PORT", "PORT", "HOST"} & set(env)
    assert not inherited("XDG_ACTIVATION_TOKEN") and inherited("LC_CTYPE") and not inherited("OPENAI_API_KEY")


def test_what_label_studio_needs_is_set(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-must-not-pass")
    monkeypatch.setenv("HF_TOKEN", "hf_must_not_pass")
    env = server_env(username="admin@kedit.local", password="pw-1", token="tok-1", data_dir=tmp_path)  # os.environ
    assert env["LABEL_STUDIO_USERNAME"] == "admin@kedit.local" and env["LABEL_STUDIO_PASSWORD"] == "pw-1"
    assert env["LABEL_STUDIO_USER_TOKEN"] == "tok-1" and env["LABEL_STUDIO_BASE_DATA_DIR"] == str(tmp_path.absolute())
    assert "OPENAI_API_KEY" not in env and "HF_TOKEN" not in env and "sk-must-not-pass" not in env.values()
    assert env.get("PATH") == __import__("os").environ.get("PATH")
