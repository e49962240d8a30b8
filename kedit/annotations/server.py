"""Start a local Label Studio server: for a user (``kbuild annotate serve``) and for the tests.

Label Studio lives in its own virtual environment (it pins packages kedit's environment must not
get); ``scripts/label_studio.sh`` installs it under ``<kedit cache>/tools/label-studio-<version>``.
The executable is found, in order, from ``$KEDIT_LABEL_STUDIO``, that cached venv, or ``PATH``.

A cold start spends 30-60 s on database migrations. The first start of a version therefore makes a
*template*: a migrated data dir with no user and no organization, kept under
``cache_dir("label-studio")/template-<version>``. Later starts on a fresh data dir copy it and are
up in a few seconds; the admin user, its organization (with legacy API tokens enabled) and its
token are created by Label Studio itself on that start from ``LABEL_STUDIO_USERNAME`` /
``LABEL_STUDIO_PASSWORD`` / ``LABEL_STUDIO_USER_TOKEN``, so no credential is stored in the template.

The child process (the server, the template migration, ``add_user``) gets an environment built
from an allow-list (:func:`server_env`), never a copy of ours: of kedit's environment it inherits
only what a process needs to run (``PATH``, ``HOME``, user, locale, time zone, temporary and XDG
folders, the dynamic linker's path), and never a variable whose name contains KEY, TOKEN, SECRET,
PASSWORD, PASSWD, CREDENTIAL or AUTH, so ``OPENAI_API_KEY``, ``HF_TOKEN`` or a cloud credential never
reach it. Left out on purpose: ``PYTHONPATH``/``PYTHONHOME``/``VIRTUAL_ENV`` (kedit's, not Label
Studio's venv), proxy variables (they may carry credentials; the server calls nothing outside),
the user's own ``LABEL_STUDIO_*``/``DJANGO_*`` settings and the bare ``USERNAME``, ``PASSWORD``,
``PORT`` and ``HOST`` Label Studio would also read. Then kedit sets what Label Studio needs: its
``LABEL_STUDIO_*`` settings (the admin's name, password and token on a first start, the data
dir), empty Sentry DSNs (it otherwise calls out) and ``PYTHONUNBUFFERED``.

Credentials. kedit writes no credential of its own anywhere. Label Studio keeps the admin's
password as a salted hash and the legacy API token in clear, both in the data dir's
``label_studio.sqlite3``. So every start (the first and each restart) reads the token back from
that database (:func:`stored_credentials`, read-only) and ``kbuild annotate serve`` prints the
login and the ``export`` lines again. The password is printed on the start that creates the admin
only: it cannot be read back, so a restart prints how to set a new one instead (Label Studio's own
``reset_password`` command, :func:`reset_password_command`).
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import shlex
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

from ..errors import KeditError
from ..settings import cache_dir, cache_root

log = logging.getLogger(__name__)

LABEL_STUDIO_VERSION = "1.23.2"
DATABASE = "label_studio.sqlite3"
_TEMPLATE_DONE = ".kedit-template-complete"
# what the child inherits from kedit's environment (see the module docs); nothing else
INHERITED_ENV = frozenset({"PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE", "TZ", "TMPDIR", "TEMP", "TMP",
                           "LD_LIBRARY_PATH", "DYLD_LIBRARY_PATH", "SSL_CERT_FILE", "SSL_CERT_DIR", "SYSTEMROOT"})
INHERITED_PREFIXES = ("LC_", "XDG_")
SECRET_WORDS = ("KEY", "TOKEN", "SECRET", "PASSWORD", "PASSWD", "CREDENTIAL", "AUTH")


def find_executable(version: str = LABEL_STUDIO_VERSION) -> Path:
    """The ``label-studio`` executable, or a KeditError that says how to install it."""
    env = os.environ.get("KEDIT_LABEL_STUDIO")
    if env:
        p = Path(env)
        if p.is_file():
            return p
        raise KeditError(f"KEDIT_LABEL_STUDIO={env} is not a file; point it at a label-studio executable")
    cached = cache_root() / "tools" / f"label-studio-{version}" / "bin" / "label-studio"
    if cached.is_file():
        return cached
    found = shutil.which("label-studio")
    if found:
        return Path(found)
    raise KeditError(
        f"Label Studio {version} is not installed; run `bash scripts/label_studio.sh` (it installs it in its own "
        "venv under the kedit cache), or set KEDIT_LABEL_STUDIO to a label-studio executable"
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _port_in_use(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def new_token() -> str:
    """A legacy API token: 40 hex characters."""
    return secrets.token_hex(20)


def inherited(name: str) -> bool:
    """Whether the Label Studio child inherits kedit's variable ``name``: allow-listed and no secret's name."""
    allowed = name in INHERITED_ENV or name.startswith(INHERITED_PREFIXES)
    return allowed and not any(w in name.upper() for w in SECRET_WORDS)


def server_env(*, username: str | None = None, password: str | None = None, token: str | None = None,
               data_dir: Path | None = None, base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a Label Studio child process: the allow-listed part of ``base`` (default:
    ``os.environ``), then Label Studio's settings; the admin's credentials only when given."""
    env = {k: v for k, v in (os.environ if base is None else base).items() if inherited(k)}
    env.update({
        "LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN": "true",
        "LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK": "true",
        "LABEL_STUDIO_COLLECT_ANALYTICS": "false",
        "LABEL_STUDIO_LATEST_VERSION_CHECK": "false",
        "SENTRY_DSN": "",
        "FRONTEND_SENTRY_DSN": "",
        "PYTHONUNBUFFERED": "1",
    })
    if username:
        env["LABEL_STUDIO_USERNAME"] = username
    if password:
        env["LABEL_STUDIO_PASSWORD"] = password
    if token:
        env["LABEL_STUDIO_USER_TOKEN"] = token
    if data_dir is not None:
        env["LABEL_STUDIO_BASE_DATA_DIR"] = str(Path(data_dir).absolute())
    return env


def template_dir(version: str = LABEL_STUDIO_VERSION) -> Path:
    return cache_dir("label-studio") / f"template-{version}"


def ensure_template(executable: Path | None = None, version: str = LABEL_STUDIO_VERSION) -> Path:
    """The migrated, user-less data dir of ``version`` (made once: ``label-studio version`` migrates and exits)."""
    tpl = template_dir(version)
    if (tpl / _TEMPLATE_DONE).is_file():
        return tpl
    exe = executable or find_executable(version)
    tmp = Path(tempfile.mkdtemp(prefix=f"template-{version}-", dir=tpl.parent))
    log.info("migrating a Label Studio %s template data dir (once; 30-60 s)", version)
    proc = subprocess.run([str(exe), "version", "--data-dir", str(tmp)], env=server_env(data_dir=tmp),
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=600, check=False)
    if proc.returncode != 0 or not (tmp / DATABASE).is_file():
        shutil.rmtree(tmp, ignore_errors=True)
        raise KeditError(f"label-studio could not migrate a data dir (exit {proc.returncode}):\n{proc.stdout[-2000:]}")
    (tmp / _TEMPLATE_DONE).write_text(json.dumps({"version": version}))
    try:
        tmp.rename(tpl)  # atomic: a concurrent maker that lost the race just discards its copy
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
    return tpl


def _fresh(data_dir: Path) -> bool:
    return not (data_dir / DATABASE).exists()


@dataclass
class LabelStudioServer:
    """A running ``label-studio start``; stop it with ``stop()`` or use it as a context manager."""

    url: str
    token: str | None  # the login's legacy API token (read back from the database on a restart); None if it has none
    username: str  # the login: the admin created on a fresh data dir, or the one found in it on a restart
    data_dir: Path
    process: subprocess.Popen
    log_path: Path
    version: str = LABEL_STUDIO_VERSION
    timings: dict = field(default_factory=dict)
    executable: Path | None = None
    password: str | None = field(default=None, repr=False)  # set on the start that created the admin only
    created: bool = False  # whether this start created the data dir's admin

    def stop(self, timeout: float = 15) -> None:
        if self.process.poll() is not None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)  # its own process group: the server and its children
        except ProcessLookupError:
            return
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(5)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def add_user(self, email: str, password: str | None = None, token: str | None = None) -> tuple[int, str]:
        """Create (or update) a member of the organization with a known API token; returns (user id, token).

        Label Studio Community has no API that hands out another user's token, so this runs a few lines of
        Django in Label Studio's own interpreter against this server's database.
        """
        token = token or new_token()
        python = (self.executable or find_executable(self.version)).parent / "python"
        proc = subprocess.run([str(python), "-c", _ADD_USER, email, password or secrets.token_urlsafe(16), token],
                              env=server_env(data_dir=self.data_dir), capture_output=True, text=True, timeout=300,
                              check=False)
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
        if proc.returncode != 0 or not lines:
            raise KeditError(f"could not create Label Studio user {email}: {proc.stderr[-1500:]}")
        return int(json.loads(lines[-1])["id"]), token


_ADD_USER = """
import json, sys
from label_studio.server import _setup_env
_setup_env()
from organizations.models import Organization
from rest_framework.authtoken.models import Token
from users.models import User
email, password, token = sys.argv[1:4]
user = User.objects.filter(email=email).first() or User.objects.create_user(email=email, password=password)
org = Organization.objects.first()
org.add_user(user)
user.active_organization = org
user.save()
Token.objects.filter(user=user).delete()
Token.objects.create(user=user, key=token)
print(json.dumps({"id": user.id}))
"""


def stored_credentials(data_dir: str | Path, username: str) -> tuple[str, str | None] | None:
    """(login, legacy API token) of ``username`` in the data dir's database, else of its first superuser.

    Reads Label Studio's own tables (``htx_user``, ``authtoken_token``; Label Studio 1.x) read-only.
    The token is None when that user has none; the result is None when the database has no such
    user or cannot be read. Passwords are stored hashed: none can be read back.
    """
    db = Path(data_dir).absolute() / DATABASE
    if not db.is_file():
        return None
    query = ("SELECT u.email, t.key FROM htx_user u LEFT JOIN authtoken_token t ON t.user_id = u.id "
             "WHERE u.is_active AND ({}) ORDER BY u.id LIMIT 1")
    try:
        with closing(sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True, timeout=10)) as con:
            row = (con.execute(query.format("u.email = ?"), (username,)).fetchone()
                   or con.execute(query.format("u.is_superuser")).fetchone())
    except sqlite3.Error as e:
        log.warning("could not read the Label Studio users of %s: %s", db, e)
        return None
    return (row[0], row[1] or None) if row else None


def reset_password_command(data_dir: str | Path, username: str, executable: Path | None = None) -> str:
    """The shell line that sets a new password for ``username`` (Label Studio asks for it; the server may keep running)."""
    exe = str(executable or "label-studio")
    data = str(Path(data_dir).absolute())
    return (f"LABEL_STUDIO_BASE_DATA_DIR={shlex.quote(data)} {shlex.quote(exe)} reset_password "
            f"--data-dir {shlex.quote(data)} --username {shlex.quote(username)}")


def access_text(server: LabelStudioServer) -> str:
    """What ``kbuild annotate serve`` prints on every start: the login, and the variables to export."""
    lines = []
    if server.created and server.password:
        lines.append(f"log in at {server.url} as {server.username} with password {server.password}\n"
                     "  (a new admin: the password is shown this once; kedit does not store it, Label Studio keeps only its hash)")
    else:
        lines.append(f"log in at {server.url} as {server.username} with the password set when this data dir was made\n"
                     "  (kedit does not store it and Label Studio keeps only its hash); to set a new one, run:\n"
                     f"  {reset_password_command(server.data_dir, server.username, server.executable)}")
    lines.append("API access for kbuild annotate push/pull:")
    lines.append(f"  export LABEL_STUDIO_URL={server.url}")
    if server.token:
        lines.append(f"  export LABEL_STUDIO_API_KEY={server.token}")
    else:
        lines.append(f"  {server.username} has no legacy API token in this data dir: log in, open Account & Settings, "
                     "then export LABEL_STUDIO_API_KEY=<that token>")
    return "\n".join(lines)


def wait_healthy(url: str, process: subprocess.Popen | None = None, timeout: float = 180, log_path: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            tail = log_path.read_text(errors="replace")[-2000:] if log_path and log_path.is_file() else ""
            raise KeditError(f"label-studio exited with code {process.returncode} before it was up:\n{tail}")
        try:
            with urllib.request.urlopen(url.rstrip("/") + "/health", timeout=2) as r:
                if r.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.25)
    raise KeditError(f"Label Studio at {url} was not healthy after {timeout:.0f} s" + (f"; see {log_path}" if log_path else ""))


def start_server(data_dir: str | Path, *, port: int | None = None, username: str = "admin@kedit.local",
                 password: str | None = None, token: str | None = None, use_template: bool = True,
                 version: str = LABEL_STUDIO_VERSION, timeout: float = 300) -> LabelStudioServer:
    """Start ``label-studio start`` on 127.0.0.1 and wait for ``/health``.

    On a fresh ``data_dir`` the template is copied in (unless ``use_template`` is false: a cold start),
    and the admin ``username`` is created with ``token`` (a new random one if not given). On a data dir
    that already has a database, Label Studio keeps its users: the login and its token are read back
    from it (``username`` if it is a user there, else the first superuser); no password is known then.
    """
    exe = find_executable(version)
    data_dir = Path(data_dir).absolute()
    fresh = _fresh(data_dir)
    timings: dict = {}
    if fresh and use_template:
        t0 = time.perf_counter()
        tpl = ensure_template(exe, version)
        timings["template_s"] = round(time.perf_counter() - t0, 2)
        data_dir.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(tpl, data_dir, dirs_exist_ok=True, ignore=shutil.ignore_patterns(_TEMPLATE_DONE))
    data_dir.mkdir(parents=True, exist_ok=True)
    if fresh:
        token = token or new_token()
        password = password or secrets.token_urlsafe(12)
    port = port or free_port()
    if _port_in_use(port):  # label-studio would silently move to another port
        raise KeditError(f"port {port} is already in use; choose another with --port")
    url = f"http://127.0.0.1:{port}"
    log_path = data_dir / "kedit-label-studio.log"
    cmd = [str(exe), "start", "--no-browser", "--internal-host", "127.0.0.1", "-p", str(port), "--data-dir", str(data_dir)]
    t0 = time.perf_counter()
    with log_path.open("ab") as fh:
        proc = subprocess.Popen(cmd, env=server_env(username=username if fresh else None, password=password,
                                                    token=token if fresh else None, data_dir=data_dir),
                                stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    server = LabelStudioServer(url=url, token=token, username=username, data_dir=data_dir, process=proc,
                               log_path=log_path, version=version, timings=timings, executable=exe,
                               password=password if fresh else None)
    try:
        wait_healthy(url, proc, timeout, log_path)
    except BaseException:
        server.stop()
        raise
    timings["start_s"] = round(time.perf_counter() - t0, 2)
    timings["from_template"] = bool(fresh and use_template)
    server.created = fresh
    found = stored_credentials(data_dir, username)
    if found is not None:
        server.username = found[0]
        server.token = token if fresh else found[1]
    return server


def main_serve(port: int, data_dir: str | Path | None, username: str, use_template: bool = True) -> int:
    """Run a server in the foreground until Ctrl-C (``kbuild annotate serve``)."""
    data_dir = Path(data_dir) if data_dir else cache_dir("label-studio") / "data"
    server = start_server(data_dir, port=port, username=username, use_template=use_template)
    print(f"Label Studio {server.version} is up at {server.url} (data: {server.data_dir}; log: {server.log_path})")
    print(access_text(server))
    print("Ctrl-C stops it.")
    sys.stdout.flush()

    def _stop(signum, frame):  # SIGTERM too: the server runs in its own process group and must not outlive us
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        server.process.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0
