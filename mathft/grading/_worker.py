"""Persistent grading worker processes with a hard wall-clock bound per request.

Why a subprocess: ``signal`` timeouts only work in the main thread, and some inputs
(exponent towers, huge factorials) hang sympy inside C code. The worker is a fresh
interpreter started with ``subprocess`` (no fork: callers have torch and threads loaded;
works from threads, daemon worker processes and the main thread alike). Requests and
replies are JSON lines; the client waits with ``poll`` and, on timeout, kills and
forgets the worker (a new one is started on the next request). Thread-safe: a small pool
hands each request its own worker.
"""

from __future__ import annotations

import atexit
import json
import os
import select
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

__all__ = ["call", "shutdown", "MAX_WORKERS"]

MAX_WORKERS = 2
_START_TIMEOUT = 60.0  # the first request also pays the interpreter + sympy import


class _Worker:
    def __init__(self) -> None:
        env = dict(os.environ)
        root = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
        env.setdefault("OMP_NUM_THREADS", "1")
        self.proc = subprocess.Popen(
            [sys.executable, "-u", "-m", "mathft.grading._worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
            close_fds=True,
            cwd=root,  # "-m" puts the cwd first on sys.path: import this mathft, not the cwd's
        )
        self.buf = b""
        self.ready = False

    def _read_line(self, deadline: float) -> Any:
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            poller = select.poll()  # poll, not select: no FD_SETSIZE limit in busy processes
            poller.register(fd, select.POLLIN | select.POLLHUP | select.POLLERR)
            if poller.poll(max(1, int(left * 1000))):
                chunk = os.read(fd, 1 << 16)
                if not chunk:
                    raise OSError("grading worker exited")
                self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)["result"]

    def request(self, msg: dict, timeout: float) -> Any:
        """Send one request; return the reply or raise TimeoutError / OSError.

        The one-off interpreter start-up (handshake line) has its own, longer bound, so
        ``timeout`` measures the request alone.
        """
        assert self.proc.stdin is not None
        if not self.ready:
            if self._read_line(time.monotonic() + _START_TIMEOUT) != "ready":
                raise OSError("grading worker failed to start")
            self.ready = True
        self.proc.stdin.write((json.dumps(msg) + "\n").encode())
        self.proc.stdin.flush()
        return self._read_line(time.monotonic() + timeout)

    def kill(self) -> None:
        try:
            self.proc.kill()
            self.proc.wait(timeout=5)
        except Exception:
            pass


class _Pool:
    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.idle: list[_Worker] = []
        self.busy = 0

    def acquire(self) -> _Worker:
        with self.cond:
            while not self.idle and self.busy >= MAX_WORKERS:
                self.cond.wait()
            self.busy += 1
            if self.idle:
                return self.idle.pop()
        try:
            return _Worker()
        except Exception:
            with self.cond:
                self.busy -= 1
                self.cond.notify()
            raise

    def release(self, w: _Worker | None) -> None:
        with self.cond:
            self.busy -= 1
            if w is not None:
                self.idle.append(w)
            self.cond.notify()

    def shutdown(self) -> None:
        with self.cond:
            ws, self.idle = self.idle, []
        for w in ws:
            w.kill()


_POOL = _Pool()
atexit.register(lambda: _POOL.shutdown())


def _after_fork_in_child() -> None:
    """A forked child must not share the parent's worker pipes (or a lock held at fork)."""
    global _POOL
    _POOL = _Pool()


os.register_at_fork(after_in_child=_after_fork_in_child)


def call(msg: dict, timeout: float, default: Any) -> Any:
    """Run ``msg`` in a worker within ``timeout`` s (plus one-off start-up); else ``default``.

    Any failure, including KeyboardInterrupt mid-request, discards that worker, so a late
    reply can never be read as the answer to a later request.
    """
    pool = _POOL
    try:
        w = pool.acquire()
    except Exception:
        return default
    try:
        result = w.request(msg, timeout)
    except BaseException as exc:
        w.kill()
        try:  # start the replacement now (Popen does not block) so the next call finds it warm
            fresh: _Worker | None = _Worker() if isinstance(exc, Exception) else None
        except Exception:
            fresh = None
        pool.release(fresh)
        if not isinstance(exc, Exception):
            raise
        return default
    pool.release(w)
    return result


def shutdown() -> None:
    """Stop idle workers (they are also stopped at interpreter exit)."""
    _POOL.shutdown()


def _serve() -> None:
    """Worker main loop: one JSON request per line on stdin, one reply per line on stdout."""
    out = os.fdopen(os.dup(1), "w")  # protocol channel; stray prints go to stderr
    sys.stdout = sys.stderr
    from mathft.grading import _symbolic  # local: only the worker process loads the grader

    _symbolic.warm_up()  # first real request must not pay lazy imports
    out.write(json.dumps({"result": "ready"}) + "\n")
    out.flush()
    for line in sys.stdin:
        try:
            msg = json.loads(line)
            if msg["op"] == "equiv":
                res: Any = _symbolic.equiv(msg["a"], msg["b"], msg["budget"])
            else:
                res = None
        except Exception:
            res = None
        out.write(json.dumps({"result": res}) + "\n")
        out.flush()


if __name__ == "__main__":
    _serve()
