"""The data's lifecycle: `vidrec privacy forget|process|status` (requests to forget a user, carrying them out,
their audit) and `vidrec maintenance retention|compact|vacuum|clean|all` (the lake's weekly upkeep)."""

from __future__ import annotations

import json
import os

from vidrec.ops import job_metrics


def cmd_privacy(settings, a) -> int:
    from vidrec import privacy

    if a.action == "forget":
        if not a.user_id:
            print("vidrec privacy forget: give the USER_ID to forget", flush=True)
            return 2
        try:
            request = privacy.queue(settings, a.user_id, a.by)
        except privacy.PrivacyError as exc:
            print(f"vidrec privacy forget: {exc}", flush=True)
            return 2
        print(json.dumps({"queued": request}), flush=True)
        if not a.now:
            return 0
    if a.action in ("forget", "process"):
        from vidrec.ops.privacy import process

        with job_metrics.recorded(settings, "privacy_process") as run:  # requests, done, deferred, seconds
            run["result"] = process(settings)
        print(json.dumps(run["result"], default=str), flush=True)
        return 0
    records = privacy.audit(settings)
    print(json.dumps({"pending": len(privacy.pending(settings)), "done": len(records),
                      "latest": records[-a.last:] if a.last else []}, default=str), flush=True)
    return 0


def cmd_maintenance(settings, a) -> int:
    from vidrec.ops.maintenance import run

    with job_metrics.recorded(settings, f"maintenance_{a.step}") as job:
        job["result"] = run(settings, a.step)
    print(json.dumps(job["result"], default=str), flush=True)
    return 0


def add_commands(sub) -> None:
    """privacy: forget a user everywhere (GDPR/CCPA erasure); maintenance: retention, compaction, vacuum."""
    q = sub.add_parser("privacy", help="forget a user everywhere: queue a request (forget), carry out the queued "
                                       "ones (process, what the privacy_daily DAG runs), or show the audit (status)")
    q.add_argument("action", choices=["forget", "process", "status"])
    q.add_argument("user_id", nargs="?", help="forget: the user to forget")
    q.add_argument("--by", default=os.environ.get("USER", "cli"), help="forget: who asked (kept in the audit)")
    q.add_argument("--now", action="store_true", help="forget: carry out the queue at once instead of waiting "
                                                     "for the privacy_daily DAG")
    q.add_argument("--last", type=int, default=5, help="status: how many of the latest audit records to print")
    q.set_defaults(func=cmd_privacy)
    q = sub.add_parser("maintenance", help="the lake's upkeep (the maintenance DAG): delete days past the retention, "
                                           "compact small files, vacuum old versions, remove old staging batches "
                                           "and run folders; prints what each removed")
    q.add_argument("step", choices=["retention", "compact", "vacuum", "clean", "all"])
    q.set_defaults(func=cmd_maintenance)
