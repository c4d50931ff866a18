"""`vidrec run experiments_report --ds D` (the ``experiments_daily`` DAG) and `vidrec experiments report NAME`:
every experiment that served in the REPORT_DAYS days ending at D, arm against control
(``spark_jobs.experiments.stats``), written to ``<artifact_root>/experiments/<name>/<D>/``: ``report.md`` (the
table, the guardrails, the sample-ratio check, the plots), ``report.json`` (every number) and one PNG per metric
(each arm's value with its 95% interval).

A canary (``canary-<version>``) whose guardrail fails while it is still on is withdrawn (``RecoStore.stop_canary``):
its users return to the served version at the API's next pointer read, and the report says so.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from spark_jobs.experiments import outcomes, stats
from vidrec import experiments
from vidrec.settings import Settings

log = logging.getLogger("vidrec.experiments")
REPORT_DAYS = 14
LABELS = {"ctr": "click-through rate", "watch_ms_per_impression": "watch time per impression (ms)",
          "like_rate": "like rate", "not_interested_rate": "not-interested rate"}


def report_dir(settings: Settings, name: str, ds: str) -> Path:
    return Path(settings.artifact_root) / "experiments" / name / ds


def declared_shares(settings: Settings, name: str, store) -> dict[str, float] | None:
    """The arms' shares: from the experiments file, or the running canary's; None when not known (any more)."""
    for e in experiments.load(settings.experiments_file):
        if e.name == name:
            return {a.name: a.share for a in e.arms}
    canary = store.canary() if store is not None else None
    if canary and name == f"{experiments.CANARY}-{canary['version']}":
        return {a.name: a.share for a in experiments.canary(canary["version"], canary["share"]).arms}
    return None


def plot(result: dict, metric: str, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    control = result["control"]
    arms = [control] + sorted(a for a in result["arms"] if a != control)
    cells = [result["arms"][a]["metrics"][metric] for a in arms]
    values = [c["value"] for c in cells]
    errors = [[c["value"] - c["low"] for c in cells], [c["high"] - c["value"] for c in cells]]
    fig, ax = plt.subplots(figsize=(5, 3.2), dpi=100)
    ax.bar(arms, values, yerr=errors, capsize=6, color=["#888888"] + ["#2c7fb8"] * (len(arms) - 1))
    notes = [f"{a}: {c['lift']:+.1%} (p={c['p']:.3g})" for a, c in zip(arms[1:], cells[1:]) if c.get("lift") is not None]
    ax.set_title(LABELS[metric] + ("\n" + "; ".join(notes) if notes else ""), fontsize=9)
    ax.set_ylabel(metric)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def markdown(name: str, ds: str, result: dict, plots: dict[str, str], actions: list[str]) -> str:
    lines = [f"# Experiment {name}: {ds} (the {REPORT_DAYS} days ending then)", "",
             f"Control: **{result['control']}**. Intervals: 95%, by the delta method over users; p: two-sided "
             f"z-test against control, Holm-adjusted over the metrics; significant below {stats.ALPHA}.", ""]
    for metric, label in LABELS.items():
        lines += [f"## {label}", "", "| arm | users | impressions | value | 95% interval | lift | p | significant |",
                  "|---|---|---|---|---|---|---|---|"]
        for arm, row in result["arms"].items():
            c = row["metrics"][metric]
            lift = f"{c['lift']:+.2%}" if c.get("lift") is not None else ""
            p = f"{c['p']:.3g}" if "p" in c else ""
            sig = ("yes" if c["significant"] else "no") if "significant" in c else ""
            lines.append(f"| {arm} | {row['users']} | {row['impressions']} | {c['value']:.4g} | "
                         f"[{c['low']:.4g}, {c['high']:.4g}] | {lift} | {p} | {sig} |")
        lines += ["", f"![{label}]({plots[metric]})", ""]
    failed = result["guardrails"]
    lines += ["## Guardrails", ""] + ([f"- FAILED: {g['arm']} moved {g['metric']} by {g['diff']:+.4g} (p={g['p']:.3g})"
                                      for g in failed] or ["- all held"])
    srm = result["srm"]
    lines += ["", "## Sample ratio", "", "- shares unknown (the experiment is no longer declared)" if srm is None else
              f"- users {srm['users']} against shares {srm['shares']}: p={srm['p']:.3g}"
              + (" **MISMATCH: do not trust the differences**" if srm["mismatch"] else " (as declared)")]
    lines += [""] + [f"- {a}" for a in actions]
    return "\n".join(lines) + "\n"


def write(settings: Settings, name: str, ds: str, arms: dict, store=None) -> dict:
    """Compare, act on a failed canary guardrail, write the report files; the result with their paths."""
    result = stats.compare(arms, declared_shares(settings, name, store))
    folder = report_dir(settings, name, ds)
    folder.mkdir(parents=True, exist_ok=True)
    plots = {m: plot(result, m, folder / f"{m}.png").name for m in stats.RATIOS}
    actions = []
    canary = store.canary() if store is not None else None
    if result["guardrails"] and canary and name == f"{experiments.CANARY}-{canary['version']}":
        metrics = ", ".join(g["metric"] for g in result["guardrails"])
        store.stop_canary(f"guardrail failed: {metrics}")
        actions.append(f"the canary {canary['version']} was withdrawn: guardrail failed ({metrics})")
        log.warning("canary %s withdrawn: guardrail failed (%s)", canary["version"], metrics)
    result.update(experiment=name, ds=ds, actions=actions, plots=plots)
    (folder / "report.json").write_text(json.dumps(result, indent=1))
    (folder / "report.md").write_text(markdown(name, ds, result, plots, actions))
    return {**result, "report": str(folder / "report.md")}


def run(settings: Settings, ds: str, name: str | None = None) -> dict:
    """Every experiment (or ``name``) that served in the window: its report; {name: report path}."""
    from spark_jobs.lake import open_lake
    from spark_jobs.session import build_spark
    from vidrec.recstore.writer import RecoStore

    lake = open_lake(settings, build_spark(settings))
    store = RecoStore.from_url(settings.redis_url, ttl_s=settings.publish_ttl_s)
    moments = outcomes.collect(lake, ds, REPORT_DAYS, name)
    reports = {n: write(settings, n, ds, arms, store) for n, arms in moments.items()}
    return {"ds": ds, "reports": {n: r["report"] for n, r in reports.items()},
            "guardrails_failed": {n: r["guardrails"] for n, r in reports.items() if r["guardrails"]}}
