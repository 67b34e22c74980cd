"""The peer and the load generator of the API benchmark: tipg in its own venv, citytwin's app,
both under uvicorn as subprocesses stopped by PID, and `wrk` driven by a Lua script that walks a
list of paths and counts the HTTP statuses.

tipg (developmentseed/tipg) is installed into `.citytwin/bench/tipg-venv` on first use with
`uvicorn[standard]` (uvloop + httptools, as the project's own venv has), and served with
`DATABASE_URL=postgresql://...`, `TIPG_DB_SCHEMAS='["citytwin"]'`,
`TIPG_DB_TABLES='["citytwin.entity"]'` (list settings are JSON; tables schema-qualified).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
TIPG_VENV = ROOT / ".citytwin" / "bench" / "tipg-venv"
TIPG_REQUIREMENTS = ("tipg==1.6.1", "uvicorn[standard]")
TIPG_COLLECTION = "citytwin.entity"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


# --- tipg's venv ---------------------------------------------------------------------------------


def tipg_venv(log=print) -> Path:  # noqa: ANN001 - a callable for progress lines
    """The venv with tipg, created when missing (about 30 s); returns its bin folder."""
    bindir = TIPG_VENV / "bin"
    if (bindir / "uvicorn").exists() and subprocess.run(
            [bindir / "python", "-c", "import tipg.main"], capture_output=True).returncode == 0:
        return bindir
    log(f"installing {', '.join(TIPG_REQUIREMENTS)} into {TIPG_VENV} ...")
    TIPG_VENV.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "venv", "--clear", TIPG_VENV], check=True)
    subprocess.run([bindir / "pip", "install", "--quiet", "--disable-pip-version-check",
                    *TIPG_REQUIREMENTS], check=True)
    return bindir


def tipg_version(bindir: Path) -> str:
    out = subprocess.run([bindir / "python", "-c", "import tipg; print(tipg.__version__)"],
                         capture_output=True, text=True)
    return out.stdout.strip() or "?"


def ensure_wrk(log=print) -> str:  # noqa: ANN001
    """The path of `wrk`, installed with apt-get when missing (as root)."""
    path = shutil.which("wrk")
    if path:
        return path
    if os.geteuid() != 0:
        raise SystemExit("this benchmark needs wrk: apt-get install wrk")
    log("installing wrk with apt-get ...")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    if subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], env=env,
                      capture_output=True).returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True, check=True)
        subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], env=env, capture_output=True,
                       check=True)
    return shutil.which("wrk") or "wrk"


# --- servers -------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    name: str
    base: str
    pid: int


@contextmanager
def serve(name: str, cmd: list[str], env: dict[str, str], ready_path: str, port: int,
          cwd: Path = ROOT, log=print) -> Iterator[Server]:  # noqa: ANN001
    """Run a uvicorn command; yield once `ready_path` answers 200; stop it by its PID."""
    out = tempfile.NamedTemporaryFile("w+", prefix=f"citytwin-bench-{name}-", suffix=".log")
    proc = subprocess.Popen(cmd, cwd=cwd, env={**os.environ, **env}, stdout=out,
                            stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                out.seek(0)
                raise SystemExit(f"{name} exited with {proc.returncode}:\n{out.read()}")
            try:
                if httpx.get(base + ready_path, timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"{name} did not answer {ready_path} within 90 s")
            time.sleep(0.2)
        log(f"{name} up at {base} (pid {proc.pid})")
        yield Server(name, base, proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        out.close()


def serve_tipg(plain_url: str, workers: int, log=print) -> contextmanager:  # noqa: ANN001
    bindir = tipg_venv(log)
    port = free_port()
    env = {"DATABASE_URL": plain_url, "TIPG_DB_SCHEMAS": '["citytwin"]',
           "TIPG_DB_TABLES": f'["{TIPG_COLLECTION}"]'}
    cmd = [str(bindir / "uvicorn"), "tipg.main:app", "--host", "127.0.0.1", "--port", str(port),
           "--workers", str(workers), "--log-level", "warning", "--no-access-log"]
    return serve("tipg", cmd, env, f"/collections/{TIPG_COLLECTION}", port, log=log)


def serve_citytwin(url: str, workers: int, log=print) -> contextmanager:  # noqa: ANN001
    port = free_port()
    cmd = [sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory", "--host",
           "127.0.0.1", "--port", str(port), "--workers", str(workers), "--log-level", "warning",
           "--no-access-log"]
    return serve("citytwin", cmd, {"CITYTWIN_DATABASE_URL": url}, "/health", port, log=log)


# --- CPU accounting from /proc ---------------------------------------------------------------


def _stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, CPU seconds used) of a process, None when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return None
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except (FileNotFoundError, ProcessLookupError):
        return ""


def tree_cpu(root: int) -> float:
    """CPU seconds used so far by a process and all its descendants (uvicorn and its workers)."""
    parents: dict[int, int] = {}
    cpu: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (st := _stat(int(entry.name))):
            parents[int(entry.name)], cpu[int(entry.name)] = st
    keep, frontier = {root}, [root]
    while frontier:
        p = frontier.pop()
        kids = [c for c, pp in parents.items() if pp == p]
        keep.update(kids)
        frontier += kids
    return sum(cpu.get(p, 0.0) for p in keep)


def backends_cpu(database: str) -> dict[int, float]:
    """CPU seconds used so far by each PostgreSQL backend connected to `database` (their
    process title is `postgres: USER DATABASE HOST ...`), by PID."""
    out: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            title = _cmdline(int(entry.name)).split()
            if len(title) >= 3 and title[0] == "postgres:" and title[2] == database:
                if st := _stat(int(entry.name)):
                    out[int(entry.name)] = st[1]
    return out


def cpu_between(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds used between two snapshots by the processes alive at the second one (a
    backend that exited in between is lost; one started in between counts in full)."""
    return sum(cpu - before.get(pid, 0.0) for pid, cpu in after.items())


# --- wrk -----------------------------------------------------------------------------------------

#: Each thread walks the path list from its own offset; statuses are counted per thread and
#: summed in done(), which prints one JSON line.
WRK_LUA = r"""
local paths = {}
counts = {}
local i = 0
local threads = {}
local n_threads = 0

function setup(thread)
  n_threads = n_threads + 1
  thread:set("tid", n_threads)
  table.insert(threads, thread)
end

function init(args)
  for line in io.lines(args[1]) do
    if #line > 0 then paths[#paths + 1] = line end
  end
  i = math.floor((tid - 1) * #paths / (tonumber(args[2]) or 1))
end

function request()
  i = i % #paths + 1
  return wrk.format("GET", paths[i])
end

function response(status, headers, body)
  counts[status] = (counts[status] or 0) + 1
end

function done(summary, latency, requests)
  local sums, statuses = {}, {}
  for _, t in ipairs(threads) do
    for k, v in pairs(t:get("counts")) do sums[k] = (sums[k] or 0) + v end
  end
  for k, v in pairs(sums) do statuses[#statuses + 1] = string.format('"%d":%d', k, v) end
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"bytes":%d,"connect":%d,"read":%d,"write":%d,' ..
    '"status":%d,"timeout":%d,"p50":%d,"p90":%d,"p99":%d,"mean":%.1f,"max":%d,' ..
    '"statuses":{%s}}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status,
    e.timeout, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.mean, latency.max, table.concat(statuses, ",")))
end
"""


@dataclass
class WrkResult:
    requests: int
    seconds: float
    bytes: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float
    max_ms: float
    socket_errors: int  # connect + read + write + timeout
    statuses: dict[int, int] = field(default_factory=dict)
    server_cpu_s: float = 0.0  # CPU of the server's process tree during the run
    #: Deltas of the caller's counters over the run (e.g. database CPU, transactions).
    counters: dict[str, float] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.requests / self.seconds

    @property
    def non_200(self) -> int:
        return sum(n for s, n in self.statuses.items() if s != 200)

    def merged(self, other: WrkResult) -> WrkResult:
        """Two runs as one: requests over the summed duration; latencies weighted by count."""
        n = self.requests + other.requests

        def w(a: float, b: float) -> float:
            return (a * self.requests + b * other.requests) / n

        statuses = dict(self.statuses)
        for s, k in other.statuses.items():
            statuses[s] = statuses.get(s, 0) + k
        counters = {k: self.counters.get(k, 0) + other.counters.get(k, 0)
                    for k in {*self.counters, *other.counters}}
        return WrkResult(n, self.seconds + other.seconds, self.bytes + other.bytes,
                         w(self.p50_ms, other.p50_ms), w(self.p90_ms, other.p90_ms),
                         w(self.p99_ms, other.p99_ms), w(self.mean_ms, other.mean_ms),
                         max(self.max_ms, other.max_ms), self.socket_errors + other.socket_errors,
                         statuses, self.server_cpu_s + other.server_cpu_s, counters)

    def per_request(self, counter: str) -> float:
        return self.counters.get(counter, 0.0) / self.requests if self.requests else 0.0


class Wrk:
    """wrk with a fixed number of threads and connections, and the Lua script in a temp dir."""

    def __init__(self, connections: int, threads: int, log=print) -> None:  # noqa: ANN001
        self.binary = ensure_wrk(log)
        self.connections = connections
        self.threads = min(threads, connections)
        self.dir = Path(tempfile.mkdtemp(prefix="citytwin-bench-wrk-"))
        self.script = self.dir / "paths.lua"
        self.script.write_text(WRK_LUA)
        self._n = 0

    def close(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)

    def run(self, server: Server, paths: list[str], seconds: float,
            probe: Callable[[], Any] | None = None,
            delta: Callable[[Any, Any], dict[str, float]] | None = None) -> WrkResult:
        """One run of `seconds`; `probe()` is read before and after it and `delta(before,
        after)` gives the run's counters (the database's CPU, transactions, ...)."""
        self._n += 1
        listing = self.dir / f"paths-{self._n}.txt"
        listing.write_text("\n".join(paths) + "\n")
        cmd = [self.binary, f"-t{self.threads}", f"-c{self.connections}", f"-d{seconds:g}s",
               "--timeout", "30s", "-s", str(self.script), server.base, "--", str(listing),
               str(self.threads)]
        cpu0 = tree_cpu(server.pid)
        seen0 = probe() if probe else None
        out = subprocess.run(cmd, capture_output=True, text=True)
        cpu1 = tree_cpu(server.pid)
        seen1 = probe() if probe else None
        line = next((x for x in out.stdout.splitlines() if x.startswith("WRKJSON ")), None)
        if out.returncode != 0 or line is None:
            raise SystemExit(f"wrk failed ({out.returncode}):\n{out.stdout}\n{out.stderr}")
        d = json.loads(line.removeprefix("WRKJSON "))
        statuses = {int(k): v for k, v in d["statuses"].items()}
        return WrkResult(d["requests"], d["duration_us"] / 1e6, d["bytes"], d["p50"] / 1000,
                         d["p90"] / 1000, d["p99"] / 1000, d["mean"] / 1000, d["max"] / 1000,
                         d["connect"] + d["read"] + d["write"] + d["timeout"], statuses,
                         cpu1 - cpu0, delta(seen0, seen1) if probe and delta else {})


def add_load_options(p, *, duration: float, rounds_help: str) -> None:  # noqa: ANN001
    """The options every wrk-driven bench shares (argparse parser `p`)."""
    p.add_argument("--n", type=int, default=1_000_000, help="entities in 光明")
    p.add_argument("--seed", type=int, default=6)
    p.add_argument("--workers", type=int, default=2, help="uvicorn workers of each server")
    p.add_argument("--connections", type=int, default=8, help="wrk connections")
    p.add_argument("--threads", type=int, default=2, help="wrk threads")
    p.add_argument("--duration", type=float, default=duration,
                   help="seconds per timed wrk run")
    p.add_argument("--warmup", type=float, default=3, help="seconds of warm-up before each")
    p.add_argument("--rounds", type=int, default=2, help=rounds_help)
