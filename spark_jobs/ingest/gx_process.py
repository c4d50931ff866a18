"""Great Expectations in a helper process, for the ingest's small pandas frames.

Importing GX costs seconds of CPU and about a second more when the interpreter unloads it at exit. A helper
process started at the beginning of a batch imports it while the Spark work runs, on the other core and
without holding this process's GIL; this process sends it each frame to validate (pickled: the frames are
bounded, see spark_jobs.ingest.expectations) and never loads GX itself. One helper serves the whole process;
it leaves with ``os._exit`` as soon as this process closes its stdin (``stop``, also at exit), so nobody
waits for GX to unload.
"""

from __future__ import annotations

import atexit
import os
import pickle
import subprocess
import sys
import threading

# The import is not needed before the batch's big Spark job is done: let that job have the cores first.
NICE = 10
_CODE = "from spark_jobs.ingest.gx_process import serve; serve()"
_lock = threading.Lock()
_helper: subprocess.Popen | None = None
atexit.register(lambda: stop())  # reap the helper (a no-op when none was started)


def start() -> None:
    """Start the helper unless it runs already (it begins importing GX at once)."""
    global _helper
    with _lock:
        if _helper is None or _helper.poll() is not None:
            env = {**os.environ, "GX_ANALYTICS_ENABLED": os.environ.get("GX_ANALYTICS_ENABLED", "false"),
                   "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
            _helper = subprocess.Popen([sys.executable, "-c", _CODE], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                       env=env)


def run_suite(frame, rules: list, suite_name: str) -> dict:
    """quality.run_suite(frame, rules, suite_name) in the helper; its error, if any, raised here."""
    start()
    with _lock:
        try:
            pickle.dump((frame, rules, suite_name), _helper.stdin, protocol=pickle.HIGHEST_PROTOCOL)
            _helper.stdin.flush()
            ok, value = pickle.load(_helper.stdout)
        except (EOFError, BrokenPipeError) as exc:
            raise RuntimeError(f"the Great Expectations helper process died (exit code {_helper.poll()})") from exc
    if not ok:
        raise RuntimeError(f"Great Expectations failed in the helper process: {value}")
    return value


def stop(wait_s: float = 1.0) -> None:
    """Close the helper's stdin and reap it: it exits at once, or is killed after ``wait_s`` (still importing)."""
    global _helper
    with _lock:
        if _helper is not None:
            _helper.stdin.close()
            try:
                _helper.wait(timeout=wait_s)
            except subprocess.TimeoutExpired:
                _helper.kill()
                _helper.wait()
            _helper = None


def serve() -> None:
    """The helper's loop: (frame, rules, name) in on stdin, (ok, report or error) out on the original stdout."""
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # anything printed goes to stderr, never into the reply stream
    os.nice(NICE)
    import great_expectations  # noqa: F401  (the import is the slow part: done before the first request)

    from spark_jobs import quality

    while True:
        try:
            frame, rules, name = pickle.load(sys.stdin.buffer)
        except EOFError:
            break
        try:
            reply = (True, quality.run_suite(frame, rules, name))
        except Exception as exc:  # reported to the caller, which raises it
            reply = (False, f"{type(exc).__name__}: {exc}")
        pickle.dump(reply, out, protocol=pickle.HIGHEST_PROTOCOL)
        out.flush()
    out.flush()
    os._exit(0)
