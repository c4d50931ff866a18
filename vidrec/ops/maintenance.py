"""`vidrec maintenance retention|compact|vacuum|clean|all`: the weekly upkeep of the lake and the folders around it
(the ``maintenance`` DAG runs the steps in that order). Each step prints what it removed; ``all`` also the files on
disk per table before and after."""

from __future__ import annotations

import logging
import time

from vidrec.settings import Settings

log = logging.getLogger("vidrec.maintenance")
STEPS = ("retention", "compact", "vacuum", "clean")


def step(settings: Settings, name: str) -> dict:
    """Run one step; what it removed."""
    from models.run_folders import clean_runs
    from spark_jobs import maintenance

    if name == "retention":
        return maintenance.apply_retention(settings)
    if name == "compact":
        return maintenance.compact(settings)
    if name == "vacuum":
        return maintenance.vacuum(settings)
    if name == "clean":
        return {"staging": maintenance.clean_staging(settings), "runs": clean_runs(settings)}
    raise ValueError(f"unknown maintenance step {name!r}: one of {STEPS}")


def run(settings: Settings, name: str = "all") -> dict:
    """One step, or every step in order (``all``) with the file counts before and after."""
    from spark_jobs.maintenance import file_count

    started = time.monotonic()
    if name != "all":
        return {name: step(settings, name), "seconds": round(time.monotonic() - started, 2)}
    before = file_count(settings)
    out = {}
    for each in STEPS:
        out[each] = step(settings, each)
        log.info("maintenance %s: %s", each, out[each])
    after = file_count(settings)
    return {**out, "files": {"before": sum(before.values()), "after": sum(after.values()), "per_table":
                             {t: [before[t], after.get(t)] for t in before}},
            "seconds": round(time.monotonic() - started, 2)}
