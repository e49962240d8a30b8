"""``kbuild annotate serve`` on a restart: the login and the API token are printed again (a real Label Studio)."""

import subprocess

from kedit.annotations.server import (
    access_text,
    server_env,
    start_server,
    stored_credentials,
)


def test_a_restart_prints_the_login_and_the_token_again(tmp_path):
    data = tmp_path / "data"
    with start_server(data) as first:
        text = access_text(first)
        assert first.created and first.password and first.token
        assert f"as {first.username} with password {first.password}" in text
        assert f"export LABEL_STUDIO_API_KEY={first.token}" in text and f"export LABEL_STUDIO_URL={first.url}" in text
    with start_server(data, username="someone-else@kedit.local") as again:  # a wrong --username: its admin is found
        text = access_text(again)
        assert not again.created and again.password is None
        assert again.username == first.username and again.token == first.token  # read back from its database
        assert f"export LABEL_STUDIO_API_KEY={first.token}" in text and f"export LABEL_STUDIO_URL={again.url}" in text
        assert first.password not in text and f"as {first.username} with the password set when" in text
        # the printed way to set a new password works (while the server runs); Label Studio asks for it, we pass it
        line = next(ln.strip() for ln in text.splitlines() if " reset_password " in ln)
        proc = subprocess.run(f"{line} --password 'new-Passw0rd-1'", shell=True, env=server_env(), text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=300, check=False)
        assert proc.returncode == 0 and "Password successfully changed" in proc.stdout, proc.stdout[-1500:]
    assert stored_credentials(data, "nobody@kedit.local") == (first.username, first.token)
    assert stored_credentials(tmp_path / "empty", first.username) is None
