"""Each arm against control, from the per-arm moments of ``spark_jobs.experiments.outcomes``.

Metrics are ratios over the arm's impressions (``RATIOS``), while users are what is randomized: a user's items
are not independent. So each ratio's variance comes from the users' sums by the delta method,
Var(X/Y) ~ (var x - 2 R cov(x, y) + R^2 var y) / (n * mean(y)^2), its 95% interval is R +- 1.96 sd, and an arm
differs from control by a two-sided z-test on the difference (scipy), the p-values of an arm's metrics adjusted
together by Holm (statsmodels). Guardrails (``GUARDRAILS``) fail when an arm moves one significantly the wrong
way. With the declared shares, a chi-square test on users per arm flags a sample-ratio mismatch (p < SRM_P):
the assignment or the logging is broken, and no difference can be trusted.
"""

from __future__ import annotations

import math

RATIOS = {"ctr": "clicked", "watch_ms_per_impression": "watch_ms", "like_rate": "liked",
          "not_interested_rate": "not_interested"}
GUARDRAILS = {"not_interested_rate": +1, "watch_ms_per_impression": -1}  # the direction that is bad
ALPHA = 0.05
SRM_P = 0.001
Z95 = 1.959964


def ratio(m: dict, metric: str) -> tuple[float, float]:
    """(the arm's ratio, its variance by the delta method)."""
    n, x_name = m["users"], RATIOS[metric]
    sx, sy = m[f"sum_{x_name}"], m["sum_impressions"]
    if n < 2 or sy <= 0:
        return (sx / sy if sy else 0.0), math.inf
    r, mx, my = sx / sy, sx / n, sy / n
    var_x = (m[f"sq_{x_name}"] - n * mx * mx) / (n - 1)
    var_y = (m["sq_impressions"] - n * my * my) / (n - 1)
    cov = (m[f"xy_{x_name}"] - n * mx * my) / (n - 1)
    return r, max(var_x - 2 * r * cov + r * r * var_y, 0.0) / (n * my * my)


def control_of(arms: dict) -> str:
    """The arm named ``control``, else the first by name."""
    return "control" if "control" in arms else sorted(arms)[0]


def compare(arms: dict[str, dict], shares: dict[str, float] | None = None) -> dict:
    """Per arm and metric: value, 95% interval; against control: difference, relative lift, p (Holm-adjusted),
    significance; the guardrails; the sample-ratio check."""
    from scipy.stats import norm
    from statsmodels.stats.multitest import multipletests

    control = control_of(arms)
    out = {"control": control, "arms": {}, "guardrails": [], "srm": srm(arms, shares)}
    for arm, m in sorted(arms.items()):
        row = {"users": m["users"], "impressions": int(m["sum_impressions"]), "metrics": {}}
        for metric in RATIOS:
            r, var = ratio(m, metric)
            sd = math.sqrt(var) if math.isfinite(var) else math.inf
            row["metrics"][metric] = {"value": r, "low": r - Z95 * sd, "high": r + Z95 * sd}
        out["arms"][arm] = row
    base = out["arms"][control]["metrics"]
    for arm, row in out["arms"].items():
        if arm == control:
            continue
        pvals = []
        for metric, cell in row["metrics"].items():
            (r, v), (rc, vc) = ratio(arms[arm], metric), ratio(arms[control], metric)
            se = math.sqrt(v + vc) if math.isfinite(v + vc) else math.inf
            z = (r - rc) / se if se and math.isfinite(se) else 0.0
            cell.update(diff=r - rc, lift=(r - rc) / rc if rc else None, z=z)
            pvals.append(float(2 * norm.sf(abs(z))))
        adjusted = multipletests(pvals, method="holm")[1]
        for (metric, cell), p in zip(row["metrics"].items(), adjusted):
            cell.update(p=float(p), significant=bool(p < ALPHA))
            bad = GUARDRAILS.get(metric)
            if bad and cell["significant"] and math.copysign(1, cell["diff"]) == bad:
                out["guardrails"].append({"arm": arm, "metric": metric, "diff": cell["diff"], "p": float(p),
                                          "control": base[metric]["value"]})
    return out


def srm(arms: dict[str, dict], shares: dict[str, float] | None) -> dict | None:
    """Users per arm against the declared shares (chi-square); None when the shares are not known."""
    if not shares or set(shares) != set(arms):
        return None
    from scipy.stats import chisquare

    names = sorted(arms)
    users = [arms[a]["users"] for a in names]
    expected = [shares[a] * sum(users) for a in names]
    p = float(chisquare(users, expected).pvalue)
    return {"users": dict(zip(names, users)), "shares": {a: shares[a] for a in names}, "p": p, "mismatch": p < SRM_P}
