"""`vidrec experiments simulate`: a short A/B test with simulated users, end to end through the real components.

The experiment ``SIMULATED`` splits the home feed in two: ``control`` serves the region's trending list (the
popularity baseline, policy ``serve: trending``), ``two_stage`` the published model's own lists. ``users`` users
(with at least MIN_POSITIVES positive interactions in the lake) each ask the API for their home feed ``rounds``
times; each answer is given back as events by ``vidrec.sources.simulated_users`` (their tastes: their favourite
categories in the lake), written as a landing file like any producer's. The hourly ingest then lands the served
log and the events, and ``spark_jobs.experiments.report`` writes the report with its plots. The API runs in this
process (the real app over the real Redis); the simulated users' tastes are read from the lake's interactions of
those users alone (a demo's lake: one pass over the table).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from vidrec.settings import Settings

SIMULATED = "simulated-popularity-vs-two-stage"
MIN_POSITIVES = 5
COUNT = 10


def experiments_file(settings: Settings) -> Path:
    path = Path(settings.data_dir) / "experiments" / "simulated.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"experiments": [{
        "name": SIMULATED, "salt": "simulated-1", "surfaces": ["home"],
        "arms": [{"name": "control", "share": 0.5, "policy": {"serve": "trending"}},
                 {"name": "two_stage", "share": 0.5}]}]}, indent=1))
    return path


def tastes_rows(settings: Settings, users: int, rng) -> list[tuple[str, str]]:
    """(user_id, category) of the positive interactions of ``users`` sampled users with enough of them."""
    import pyarrow as pa
    import pyarrow.compute as pc
    from deltalake import DeltaTable

    lake = Path(settings.lake_root)
    positives = DeltaTable(str(lake / "interactions")).to_pyarrow_dataset().to_table(
        columns=["user_id", "video_id"], filter=pc.field("weight") > 0)
    counts = positives.group_by("user_id").aggregate([("video_id", "count")])
    eligible = counts.filter(pc.field("video_id_count") >= MIN_POSITIVES)["user_id"].to_pylist()
    chosen = set(rng.choice(eligible, size=min(users, len(eligible)), replace=False).tolist()) if eligible else set()
    mine = positives.filter(pc.is_in(positives["user_id"], value_set=pa.array(sorted(chosen), pa.string())))
    videos = DeltaTable(str(lake / "videos")).to_pyarrow_table(columns=["video_id", "category"])
    joined = mine.join(videos, "video_id")
    return list(zip(joined["user_id"].to_pylist(), joined["category"].to_pylist()))


def run(settings: Settings, users: int = 600, rounds: int = 2, seed: int = 7) -> dict:
    """Serve, answer, ingest, report; the report's figures for the two arms."""
    if settings.pseudonymize:  # the lake knows users by pseudonyms, and the API would take them for clear ids
        raise ValueError("vidrec experiments simulate reads its users from the lake: it needs VIDREC_PSEUDONYMIZE off")
    import numpy as np
    from starlette.testclient import TestClient

    from serving.app import create_app
    from spark_jobs.experiments import report
    from spark_jobs.ingest import batch as ingest
    from vidrec.sources.simulated_users import Audience

    rng = np.random.default_rng(seed)
    audience = Audience.from_history(tastes_rows(settings, users, rng))
    s = settings.replace(experiments_file=str(experiments_file(settings)), api_auth="off")  # an in-process client
    now, events = dt.datetime.now(dt.timezone.utc), []
    with TestClient(create_app(s)) as client:
        for _ in range(rounds):
            for user in sorted(audience.tastes):
                feed = client.get("/api/v1/recommendations/home", params={"user_id": user, "count": COUNT}).json()
                events += audience.answer(user, feed, "home", rng, now)
    landing = Path(s.landing_dir) / "events" / "simulated" / f"simulated-{now:%Y%m%dT%H%M%S}.jsonl"
    landing.parent.mkdir(parents=True, exist_ok=True)
    landing.write_text("".join(json.dumps(e) + "\n" for e in events))
    ingested = ingest.run_step(s)
    done = report.run(s, now.date().isoformat(), SIMULATED)
    figures = json.loads(Path(done["reports"][SIMULATED]).with_suffix(".json").read_text())
    return {"experiment": SIMULATED, "users": len(audience.tastes), "events": len(events),
            "served_items": ingested["served"]["items"], "report": done["reports"][SIMULATED], "figures": figures}
