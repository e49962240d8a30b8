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
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

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
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=600)
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
    token: str | None  # None when the data dir already had its admin (its token is in the UI)
    username: str
    data_dir: Path
    process: subprocess.Popen
    log_path: Path
    version: str = LABEL_STUDIO_VERSION
    timings: dict = field(default_factory=dict)
    executable: Path | None = None
    password: str | None = field(default=None, repr=False)

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

    def __enter__(self) -> "LabelStudioServer":
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
                              env=server_env(data_dir=self.data_dir), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, timeout=300)
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
    that already has a database, Label Studio keeps its users; ``token`` is then None unless given.
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
    return server


def main_serve(port: int, data_dir: str | Path | None, username: str, use_template: bool = True) -> int:
    """Run a server in the foreground until Ctrl-C (``kbuild annotate serve``)."""
    data_dir = Path(data_dir) if data_dir else cache_dir("label-studio") / "data"
    server = start_server(data_dir, port=port, username=username, use_template=use_template)
    print(f"Label Studio {server.version} is up at {server.url} (data: {server.data_dir}; log: {server.log_path})")
    if server.token:
        print(f"log in as {server.username} with password {server.password} (shown once; kedit stores neither)\n"
              f"API access for kbuild annotate push/pull:\n"
              f"  export LABEL_STUDIO_URL={server.url}\n  export LABEL_STUDIO_API_KEY={server.token}")
    else:
        print("this data dir already had its users; use the API token shown under Account & Settings in the UI")
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
