"""Great Expectations out of the ingest's process, for its small pandas frames.

Importing GX costs about 6 s of CPU (measured: `python -c "import great_expectations"`, 5.4 s user + 0.8 s
system here) and about a second more when the interpreter unloads it at exit. So this process never loads
GX: it sends each frame to validate (pickled: the frames are bounded, see spark_jobs.ingest.expectations)
to one of two places, chosen by ``start``:

- the long-lived server (``serve_socket`` on the settings' ``gx_socket``, data_dir/run/gx.sock unless set;
  started by `vidrec services up`), which imported GX once for every batch to come;
- else a helper process of its own, started at the beginning of the batch, which imports GX while the Spark
  work runs (on the other core, without holding this process's GIL) and leaves with ``os._exit`` as soon as
  this process closes its stdin (``stop``, also at exit), so nobody waits for GX to unload.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import hashlib
import os
import pickle
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

# The helper's import is not needed before the batch's big Spark job is done: let that job have the cores first.
NICE = 10
_CODE = "from spark_jobs.ingest.gx_process import serve; serve()"
_lock = threading.Lock()
_helper: subprocess.Popen | None = None
_channel = None  # (writer, reader): the helper's stdin and stdout, or a connection to the server
_sock: socket.socket | None = None
atexit.register(lambda: stop())  # reap the helper (a no-op when none was started)


def socket_path(configured: str | Path) -> Path:
    """Where the long-lived server listens: the configured path (VIDREC_GX_SOCKET), or, when that is too long
    for a Unix socket (108 bytes on Linux), a name in the temp folder derived from it."""
    path = Path(configured).resolve()
    if len(os.fsencode(path)) < 100:
        return path
    digest = hashlib.sha1(os.fsencode(path)).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"vidrec-gx-{digest}.sock"


def listening(path: Path) -> bool:
    """Is a server accepting connections on ``path``."""
    sock = _connect(path)
    if sock is not None:
        sock.close()
    return sock is not None


def _connect(path: Path) -> socket.socket | None:
    if not path.exists():
        return None
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(str(path))
        return sock
    except OSError:  # a socket file left by a server that is gone
        sock.close()
        return None


def start(gx_socket: str | Path | None = None) -> str:
    """Make sure frames have somewhere to go: the server on ``gx_socket`` when one listens there, else this
    process's helper (it begins importing GX at once). Returns "server" or "helper"."""
    global _helper, _channel, _sock
    with _lock:
        if _sock is not None:
            return "server"
        if _helper is not None and _helper.poll() is None:
            return "helper"
        sock = _connect(socket_path(gx_socket)) if gx_socket else None
        if sock is not None:
            _sock, _channel = sock, (sock.makefile("wb"), sock.makefile("rb"))
            return "server"
        env = {**os.environ, "GX_ANALYTICS_ENABLED": os.environ.get("GX_ANALYTICS_ENABLED", "false"),
               "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        _helper = subprocess.Popen([sys.executable, "-c", _CODE], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                   env=env)
        _channel = (_helper.stdin, _helper.stdout)
        return "helper"


def run_suite(frame, rules: list, suite_name: str) -> dict:
    """quality.run_suite(frame, rules, suite_name) in the server or the helper; its error, if any, raised here."""
    start()
    with _lock:
        writer, reader = _channel
        try:
            pickle.dump((frame, rules, suite_name), writer, protocol=pickle.HIGHEST_PROTOCOL)
            writer.flush()
            ok, value = pickle.load(reader)
        except (EOFError, BrokenPipeError, ConnectionError) as exc:
            who = "server" if _sock is not None else f"helper process (exit code {_helper.poll()})"
            raise RuntimeError(f"the Great Expectations {who} died") from exc
    if not ok:
        raise RuntimeError(f"Great Expectations failed in the {'server' if _sock else 'helper process'}: {value}")
    return value


def stop(wait_s: float = 1.0) -> None:
    """Close the channel: the helper exits at once (or is killed after ``wait_s``, still importing); the
    server keeps serving others."""
    global _helper, _channel, _sock
    with _lock:
        if _sock is not None:
            for f in _channel:
                f.close()
            _sock.close()
            _sock = _channel = None
        if _helper is not None:
            _helper.stdin.close()
            try:
                _helper.wait(timeout=wait_s)
            except subprocess.TimeoutExpired:
                _helper.kill()
                _helper.wait()
            _helper = _channel = None


def _answer(reader, writer, lock=contextlib.nullcontext()) -> None:
    """(frame, rules, name) in, (ok, report or error) out, until the other side closes."""
    from spark_jobs import quality

    while True:
        try:
            frame, rules, name = pickle.load(reader)
        except EOFError:
            return
        try:
            with lock:
                reply = (True, quality.run_suite(frame, rules, name))
        except Exception as exc:  # reported to the caller, which raises it
            reply = (False, f"{type(exc).__name__}: {exc}")
        pickle.dump(reply, writer, protocol=pickle.HIGHEST_PROTOCOL)
        writer.flush()


def serve() -> None:
    """The helper's loop, on stdin and the original stdout."""
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # anything printed goes to stderr, never into the reply stream
    os.nice(NICE)
    import great_expectations  # noqa: F401  (the import is the slow part: done before the first request)

    _answer(sys.stdin.buffer, out)
    out.flush()
    os._exit(0)


def _serve_connection(conn: socket.socket, lock: threading.Lock) -> None:
    with conn, conn.makefile("rb") as reader, conn.makefile("wb") as writer:
        try:
            _answer(reader, writer, lock)
        except (BrokenPipeError, ConnectionError):
            pass  # the client went away mid-request


def serve_socket(path: Path) -> None:
    """The long-lived server: GX imported once, then one thread per connected process; suites run one at a
    time. The socket is the owner's only (mode 0600): requests are pickles."""
    import great_expectations  # noqa: F401

    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    # `vidrec services down` ends it with SIGTERM: leave no socket file behind.
    signal.signal(signal.SIGTERM, lambda *_: (path.unlink(missing_ok=True), os._exit(0)))
    lock = threading.Lock()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        old = os.umask(0o177)
        try:
            server.bind(str(path))
        finally:
            os.umask(old)
        server.listen()
        print(f"Great Expectations server listening on {path}", flush=True)
        while True:
            conn, _ = server.accept()
            threading.Thread(target=_serve_connection, args=(conn, lock), daemon=True).start()


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description="the long-lived Great Expectations server of the ingest")
    ap.add_argument("--socket", required=True, type=Path)
    serve_socket(ap.parse_args().socket)
