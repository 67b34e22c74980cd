"""The project's own PostGIS cluster in a local folder: install, initdb, start, stop, status.

Used when no CITYTWIN_DATABASE_URL is given, so a new user needs no database administration.
As root the server runs as an unprivileged OS user (initdb refuses root).
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import pwd
import secrets
import shutil
import socket
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path

import psycopg
from psycopg import sql

from registry.errors import ClusterError
from registry.settings import Settings

#: Tuned for the small (2-core) machines this runs on; measured there: JIT turned a 95 ms spatial
#: count into 350 ms, parallel workers an 8 ms bbox query into 47 ms.
SERVER_CONF = """\
# written by citytwin (registry/cluster.py); edits here are overwritten by `citytwin db up`
jit = off
parallel_setup_cost = 10000
max_parallel_workers_per_gather = 1
random_page_cost = 1.1
effective_io_concurrency = 64
shared_buffers = 512MB
effective_cache_size = 4GB
work_mem = 32MB
maintenance_work_mem = 512MB
max_connections = 200
max_wal_size = 4GB
checkpoint_timeout = 15min
# a local cluster, not replicated: a bulk load into the empty registry writes no WAL
# (registry.bulk.fresh_files; a million points: 661 MB of WAL → 3 MB)
wal_level = minimal
max_wal_senders = 0
log_min_duration_statement = 2000
"""
SOCKET_LIMIT = 100  # bytes; the kernel's limit for a unix socket path is ~107


@dataclass
class ClusterState:
    """What `db up` recorded: kept in HOME/cluster.json (mode 0600, it holds the password)."""

    data_dir: str
    socket_dir: str
    port: int
    user: str
    password: str
    os_user: str
    bindir: str

    def url(self, database: str) -> str:
        return (
            f"postgresql+psycopg://{self.user}:{self.password}@/{database}"
            f"?host={self.socket_dir}&port={self.port}"
        )

    def tcp_url(self, database: str) -> str:
        return f"postgresql://{self.user}:{self.password}@127.0.0.1:{self.port}/{database}"


def _state_file(settings: Settings) -> Path:
    return settings.home / "cluster.json"


def load_state(settings: Settings) -> ClusterState | None:
    path = _state_file(settings)
    if not path.exists():
        return None
    return ClusterState(**json.loads(path.read_text()))


def _save_state(settings: Settings, state: ClusterState) -> None:
    path = _state_file(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(asdict(state), f, indent=2)
    tmp.replace(path)


def _run(cmd: list[str], *, as_user: str | None = None, check: bool = True) -> str:
    if as_user and os.geteuid() == 0 and as_user != "root":
        cmd = ["runuser", "-u", as_user, "--", *cmd]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise ClusterError(f"{' '.join(cmd)} failed: {proc.stderr.strip() or proc.stdout.strip()}")
    return proc.stdout


def _bindirs() -> list[str]:
    return sorted(
        glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name)
    )


def find_bindir() -> str | None:
    """The newest installed PostgreSQL server's binaries (Debian keeps them off PATH)."""
    for d in reversed(_bindirs()):
        if Path(d, "initdb").exists():
            return d
    exe = shutil.which("initdb")
    return str(Path(exe).parent) if exe else None


def _postgis_installed(bindir: str) -> bool:
    major = Path(bindir).parent.name
    return bool(glob.glob(f"/usr/share/postgresql/{major}/extension/postgis.control"))


def ensure_server_packages(log=print) -> str:  # noqa: ANN001 - a callable for progress lines
    """Install PostgreSQL and the PostGIS package matching it via apt when missing."""
    bindir = find_bindir()
    if bindir and _postgis_installed(bindir):
        return bindir
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise ClusterError(
            "PostgreSQL with PostGIS is not installed and this is not a root Debian shell: "
            "install postgresql and postgis, or set CITYTWIN_DATABASE_URL to an existing PostGIS"
        )
    packages = [f"postgresql-{Path(bindir).parent.name}-postgis-3"] if bindir else [
        "postgresql", "postgis"
    ]
    log(f"installing {' '.join(packages)} via apt-get ...")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-q", "--no-install-recommends", *packages]
    if subprocess.run(install, env=env, capture_output=True).returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True)
        proc = subprocess.run(install, env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            raise ClusterError(f"apt-get install {' '.join(packages)} failed: {proc.stderr[-800:]}")
    bindir = find_bindir()
    if not bindir or not _postgis_installed(bindir):
        raise ClusterError("PostGIS is still missing after apt-get install")
    return bindir


def _server_os_user() -> str:
    """As root, the unprivileged account that owns and runs the cluster."""
    if os.geteuid() != 0:
        return pwd.getpwuid(os.geteuid()).pw_name
    for name in ("postgres", "citytwin"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    _run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "citytwin"])
    return "citytwin"


def _reachable_by(path: Path, os_user: str) -> bool:
    if os.geteuid() != 0 or os_user == "root":
        return True
    probe = subprocess.run(["runuser", "-u", os_user, "--", "test", "-x", str(path)])
    return probe.returncode == 0


def _pick_dirs(settings: Settings, os_user: str) -> tuple[Path, Path]:
    """Data folder inside HOME when the server's OS user can reach it, else a private one."""
    home = settings.home.resolve()
    home.mkdir(parents=True, exist_ok=True)
    tag = hashlib.sha1(str(home).encode()).hexdigest()[:10]
    pg = home / "pg"
    if not _reachable_by(home, os_user):
        pg = Path("/var/lib/citytwin") / tag
    sock = pg / "run"
    if len(str(sock)) + len("/.s.PGSQL.65535") > SOCKET_LIMIT:
        sock = Path("/tmp") / f"citytwin-{tag}"
    return pg, sock


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_port(first: int) -> int:
    for port in range(first, first + 100):
        if _port_free(port):
            return port
    raise ClusterError(f"no free TCP port in {first}..{first + 99} for the local cluster")


def _chown(path: Path, os_user: str) -> None:
    if os.geteuid() == 0:
        pw = pwd.getpwnam(os_user)
        for p in [path, *path.rglob("*")]:
            os.chown(p, pw.pw_uid, pw.pw_gid)


def _initdb(state: ClusterState) -> None:
    data = Path(state.data_dir)
    pg = data.parent
    pg.mkdir(parents=True, exist_ok=True)
    Path(state.socket_dir).mkdir(parents=True, exist_ok=True)
    pwfile = pg / "pwfile"
    pwfile.write_text(state.password + "\n")
    _chown(pg, state.os_user)
    _chown(Path(state.socket_dir), state.os_user)
    os.chmod(pwfile, 0o600)
    try:
        _run(
            [f"{state.bindir}/initdb", "-D", str(data), "-U", state.user, f"--pwfile={pwfile}",
             "-A", "scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8",
             "--lc-collate=C"],
            as_user=state.os_user,
        )
    finally:
        pwfile.unlink(missing_ok=True)


def _write_conf(state: ClusterState) -> None:
    data = Path(state.data_dir)
    conf = data / "citytwin.conf"
    conf.write_text(
        SERVER_CONF
        + f"port = {state.port}\nlisten_addresses = '127.0.0.1'\n"
        + f"unix_socket_directories = '{state.socket_dir}'\n"
    )
    main = data / "postgresql.conf"
    if "include_if_exists = 'citytwin.conf'" not in main.read_text():
        with main.open("a") as f:
            f.write("\ninclude_if_exists = 'citytwin.conf'\n")
    _chown(conf, state.os_user)


def is_running(state: ClusterState) -> bool:
    if not Path(state.data_dir, "PG_VERSION").exists():
        return False
    proc = subprocess.run(
        ["runuser", "-u", state.os_user, "--", f"{state.bindir}/pg_ctl", "status", "-D",
         state.data_dir] if os.geteuid() == 0 else
        [f"{state.bindir}/pg_ctl", "status", "-D", state.data_dir],
        capture_output=True,
    )
    return proc.returncode == 0


def up(settings: Settings, log=print) -> ClusterState:  # noqa: ANN001
    """Idempotent: install what is missing, initdb once, start if stopped, create the database."""
    state = load_state(settings)
    if state and is_running(state):
        create_database(state, settings.database_name)
        return state
    bindir = ensure_server_packages(log)
    if state is None or not Path(state.data_dir, "PG_VERSION").exists():
        os_user = _server_os_user()
        pg, sock = _pick_dirs(settings, os_user)
        state = ClusterState(
            data_dir=str(pg / "data"), socket_dir=str(sock), port=_free_port(settings.port),
            user="citytwin", password=secrets.token_urlsafe(24), os_user=os_user, bindir=bindir,
        )
        log(f"creating a PostGIS cluster in {state.data_dir} ...")
        _initdb(state)
    else:
        state.bindir = bindir
        if not _port_free(state.port):
            state.port = _free_port(settings.port)
    Path(state.socket_dir).mkdir(parents=True, exist_ok=True)
    _chown(Path(state.socket_dir), state.os_user)
    _write_conf(state)
    _save_state(settings, state)
    log_file = Path(state.data_dir).parent / "server.log"
    log_file.touch()
    _chown(log_file, state.os_user)
    _run([f"{state.bindir}/pg_ctl", "start", "-D", state.data_dir, "-l", str(log_file), "-w",
          "-t", "60"], as_user=state.os_user)
    create_database(state, settings.database_name)
    return state


def _connect(state: ClusterState, database: str) -> psycopg.Connection:
    return psycopg.connect(
        host=state.socket_dir, port=state.port, user=state.user, password=state.password,
        dbname=database, autocommit=True,
    )


#: Databases sort text by bytes ("C"): for UTF-8 the same order as C.UTF-8's code points, but
#: PostgreSQL compares with memcmp and abbreviated keys instead of strcoll — the text indexes
#: of a million-entity import build 25 % faster (codes, source ids). Character classes and
#: case (LC_CTYPE) stay C.UTF-8's.
CREATE_DATABASE = "CREATE DATABASE {} TEMPLATE template0 LC_COLLATE 'C'"


def create_database(state: ClusterState, database: str, *, fresh: bool = False) -> None:
    """Create DATABASE with PostGIS in the local cluster (dropped first when `fresh`)."""
    name = sql.Identifier(database)
    with _connect(state, "postgres") as conn:
        if fresh:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [database]).fetchone()
        if not exists:
            conn.execute(sql.SQL(CREATE_DATABASE).format(name))
    with _connect(state, database) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")


def down(settings: Settings) -> bool:
    state = load_state(settings)
    if not state or not is_running(state):
        return False
    _run([f"{state.bindir}/pg_ctl", "stop", "-D", state.data_dir, "-m", "fast", "-w"],
         as_user=state.os_user)
    return True
