"""Start and stop the real `netdhcpd` inside a test namespace.

Readiness is the daemon's own word: it implements systemd's sd_notify and sends the
datagram READY=1 to the unix socket named by NOTIFY_SOCKET once its sockets are bound and
its leases loaded. The helper owns that socket, so no test sleeps for a guessed time.
"""

from __future__ import annotations

import csv
import os
import select
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from netns import Netns

REPO = Path(__file__).resolve().parents[2]
BINARY = Path(os.environ.get("NETDHCPD", REPO / "target" / "release" / "netdhcpd"))

LEASE4_HEADER = [
    "address",
    "hwaddr",
    "client_id",
    "valid_lifetime",
    "expire",
    "subnet_id",
    "fqdn_fwd",
    "fqdn_rev",
    "hostname",
    "state",
    "user_context",
]


class DaemonError(AssertionError):
    pass


class Daemon:
    """One netdhcpd process (and its restarts) with its own state directory.

    workdir/
      config.xml       the startup configuration passed with --startup
      state/           --state-dir: leases4.csv and the daemon's own files
      netdhcpd.log     stdout and stderr of every start, appended
    """

    def __init__(
        self,
        ns: Netns,
        workdir: Path,
        config_xml: str,
        extra_args: tuple[str, ...] = (),
        binary: Path | str = BINARY,
    ):
        self.ns = ns
        self.binary = Path(binary)
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.state_dir = self.workdir / "state"
        self.state_dir.mkdir(exist_ok=True)
        self.config_path = self.workdir / "config.xml"
        self.config_path.write_text(config_xml)
        self.log_path = self.workdir / "netdhcpd.log"
        self.extra_args = tuple(extra_args)
        self.proc: subprocess.Popen | None = None
        self.starts = 0
        # Set when the test itself ends the process (stop, kill9): any other exit is a crash.
        self._ended_on_purpose = False
        # A unix socket path must fit in 108 bytes: keep it short, under /tmp.
        self._notify_dir = tempfile.mkdtemp(prefix="nd-n-", dir="/tmp")
        self.notify_path = os.path.join(self._notify_dir, "notify")
        self._notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._notify.bind(self.notify_path)

    # ---- lifecycle ----

    def start(self, timeout: float = 30):
        if self.proc is not None and self.proc.poll() is None:
            raise DaemonError("daemon already running")
        if not self.binary.exists():
            raise DaemonError(f"{self.binary} does not exist: build it with `cargo build --release`")
        self._drain_notify()
        self._ended_on_purpose = False
        env = dict(os.environ)
        env["NOTIFY_SOCKET"] = self.notify_path
        env.setdefault("RUST_LOG", os.environ.get("NETDHCP_TEST_LOG", "info"))
        env.setdefault("RUST_BACKTRACE", "1")
        env.setdefault("NO_COLOR", "1")  # plain text in the log file
        self.starts += 1
        log = open(self.log_path, "ab")
        log.write(f"\n===== start #{self.starts} at {time.strftime('%H:%M:%S')} =====\n".encode())
        log.flush()
        cmd = [str(self.binary), "run", "--state-dir", str(self.state_dir), "--startup", str(self.config_path), *self.extra_args]
        try:
            self.proc = self.ns.popen(*cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env)
        finally:
            log.close()
        self._wait_ready(timeout)
        return self

    def _drain_notify(self):
        self._notify.setblocking(False)
        try:
            while True:
                self._notify.recv(4096)
        except BlockingIOError:
            pass
        finally:
            self._notify.setblocking(True)

    def _wait_ready(self, timeout: float):
        deadline = time.monotonic() + timeout
        seen = []
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self._kill_after_failure()
                raise DaemonError(
                    f"netdhcpd sent no READY=1 within {timeout}s (notify messages: {seen!r})\n{self.log_tail()}"
                )
            r, _, _ = select.select([self._notify], [], [], min(remaining, 0.1))
            if r:
                data = self._notify.recv(4096).decode(errors="replace")
                seen.append(data)
                if "READY=1" in data.split("\n"):
                    return
                continue
            rc = self.proc.poll()
            if rc is not None:
                self._ended_on_purpose = True  # reported here, not again as a crash
                raise DaemonError(f"netdhcpd exited with {rc} before READY=1\n{self.log_tail()}")

    def _kill_after_failure(self):
        self._ended_on_purpose = True
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self, timeout: float = 10) -> int | None:
        """SIGTERM, wait up to `timeout`, then SIGKILL. Returns the exit status (negative for a
        signal), None if it was not running."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self._ended_on_purpose = True
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        return self.proc.returncode

    def kill9(self):
        """SIGKILL, as a crash or power loss would end it."""
        if self.proc is not None and self.proc.poll() is None:
            self._ended_on_purpose = True
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def crashed(self) -> bool:
        """True when the process exited without the test stopping it."""
        return self.proc is not None and self.proc.poll() is not None and not self._ended_on_purpose

    def restart(self, timeout: float = 30):
        self.stop()
        return self.start(timeout)

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def assert_running(self):
        if not self.running():
            raise DaemonError(f"netdhcpd is not running (exit {self.proc.returncode if self.proc else None})\n{self.log_tail()}")

    def close(self):
        self.stop()
        self._notify.close()
        try:
            os.unlink(self.notify_path)
            os.rmdir(self._notify_dir)
        except OSError:
            pass

    # ---- files ----

    def lease_file(self) -> Path:
        """The DHCPv4 memfile: DIR/leases4.csv (the model's default memfile-v4)."""
        return self.state_dir / "leases4.csv"

    def lease_rows(self) -> list[dict]:
        """Rows of the DHCPv4 lease file as dicts; [] if the file does not exist."""
        if not self.lease_file().exists():
            return []
        with open(self.lease_file(), newline="") as f:
            return list(csv.DictReader(f))

    def lease_header(self) -> list[str]:
        with open(self.lease_file(), newline="") as f:
            return next(csv.reader(f))

    def last_lease_row(self, address: str) -> dict | None:
        """The row that counts for an address: the memfile is a journal, last row wins."""
        rows = [r for r in self.lease_rows() if r.get("address") == address]
        return rows[-1] if rows else None

    def log_tail(self, lines: int = 80) -> str:
        try:
            text = self.log_path.read_text(errors="replace").splitlines()
        except FileNotFoundError:
            return "(no log)"
        return f"--- last {min(lines, len(text))} lines of {self.log_path} ---\n" + "\n".join(text[-lines:])


def check_config(path: Path | str, ns: Netns | None = None) -> subprocess.CompletedProcess:
    """`netdhcpd check FILE`: exit status and messages."""
    cmd = [str(BINARY), "check", str(path)]
    if ns is not None:
        cmd = ["ip", "netns", "exec", ns.name, *cmd]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60)
