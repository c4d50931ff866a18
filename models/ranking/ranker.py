"""The ranker: one XGBRanker (LambdaMART, ``rank:ndcg``) over the candidates of a user, graded labels.

The graded label (2 like/share, 1 watched >= half, 0 otherwise; see training_set) orders "engaged" above
"watched" above the rest; the other objectives have heads of their own (``models.ranking.objectives``).
A query is (label day, user); XGBoost needs the rows of a query contiguous and the
queries in ascending order, which ``build_matrix`` guarantees (a test asserts it). Training uses the
training split only, groups without any positive are dropped (they carry no ranking gradient), and the
number of trees is fixed (no early stopping on the validation day, so the gate's numbers on that day
(``models.evaluation.gate``) stay out-of-sample).

The nightly's ``train_ranker`` job (``models.ranking.objectives.run``) trains it as the ``watch`` head
beside the other objectives' heads: ``runs/<ds>/ranker/model.json`` (``save_model``, XGBoost's JSON) and
``runs/<ds>/ranker/ranker.json`` (feature names in order, feature source, params, validation metrics).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from models import io, parameters
from models.metrics import ndcg_of_scores
from models.ranking.training_set import EVENT_TIMESTAMP, LABEL, LABEL_DS, LABEL_KIND, SPLIT, TARGET_EVENTS
from vidrec.settings import Settings
from vidrec.tables import USER_ID, VIDEO_ID

NOT_FEATURES = {USER_ID, VIDEO_ID, EVENT_TIMESTAMP, LABEL, LABEL_KIND, LABEL_DS, SPLIT, "rank_score", *TARGET_EVENTS}


@dataclass(frozen=True)
class RankerParams:
    n_estimators: int = 100
    max_depth: int = 4
    learning_rate: float = 0.1
    min_child_weight: float = 1.0
    subsample: float = 0.8
    colsample_bytree: float = 0.8
    eval_k: int = 10
    n_jobs: int = 2
    pair_method: str = "topk"      # XGBoost's lambdarank_pair_method: topk (pairs within the top) or mean
    pairs_per_sample: int = 32     # lambdarank_num_pair_per_sample: the top's depth (topk) or pairs per row (mean)
    blend_weight: float = 0.0      # the retrieval scores' weight in the final order (models.ranking.blend)
    blend_als: float = 2.0         # ALS's weight against co-watch's within them

    @classmethod
    def from_settings(cls, settings: Settings, **overrides) -> "RankerParams":
        """The parameters file's ``ranker`` (``models.parameters``, what ``vidrec eval`` measured); overrides win."""
        return cls(**{**parameters.section(settings, "ranker", cls), **overrides})


def feature_columns(frame: pd.DataFrame) -> list[str]:
    """The numeric (or boolean) columns that are not ids, labels or bookkeeping, in frame order."""
    return [c for c in frame.columns if c not in NOT_FEATURES
            and (pd.api.types.is_numeric_dtype(frame[c]) or pd.api.types.is_bool_dtype(frame[c]))]


def query_ids(frame: pd.DataFrame) -> np.ndarray:
    """Query id per row: the rank of (label_ds, user_id) among the frame's distinct queries."""
    keys = [LABEL_DS, USER_ID] if LABEL_DS in frame.columns else [USER_ID]
    return frame.groupby(keys, sort=True).ngroup().to_numpy(np.int64)


def build_matrix(frame: pd.DataFrame, features: list[str]) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """(X float32 with NaN for missing, y or None, qid): rows sorted by qid (stable), as XGBoost requires."""
    qid = query_ids(frame)
    order = np.argsort(qid, kind="stable")
    X = frame[features].to_numpy(dtype=np.float32, na_value=np.nan)[order]
    y = frame[LABEL].to_numpy()[order] if LABEL in frame.columns else None
    return X, y, qid[order]


def with_positive_queries(frame: pd.DataFrame) -> pd.DataFrame:
    """Only the queries that have at least one row with label > 0."""
    keys = [LABEL_DS, USER_ID] if LABEL_DS in frame.columns else [USER_ID]
    return frame[frame.groupby(keys)[LABEL].transform("max") > 0]


def fit_ranker(train: pd.DataFrame, features: list[str], params: RankerParams, *, seed: int):
    """An XGBRanker fitted on ``train``'s queries that have a positive."""
    from xgboost import XGBRanker

    X, y, qid = build_matrix(with_positive_queries(train), features)
    if len(X) == 0:
        raise ValueError("no training query has a positive label")
    model = XGBRanker(objective="rank:ndcg", tree_method="hist", random_state=seed, n_jobs=params.n_jobs,
                      n_estimators=params.n_estimators, max_depth=params.max_depth,
                      learning_rate=params.learning_rate, min_child_weight=params.min_child_weight,
                      subsample=params.subsample, colsample_bytree=params.colsample_bytree,
                      lambdarank_pair_method=params.pair_method,
                      lambdarank_num_pair_per_sample=params.pairs_per_sample, eval_metric=f"ndcg@{params.eval_k}")
    model.fit(X, y, qid=qid, verbose=False)
    return model


def score(model, frame: pd.DataFrame, features: list[str], extra: dict | None = None) -> np.ndarray:
    """Ranker score per row of ``frame``, in the frame's own order (``feature_matrix``)."""
    X = feature_matrix(frame, features, extra)
    return model.predict(X) if len(X) else np.empty(0, np.float32)


def feature_matrix(frame: pd.DataFrame, features: list[str], extra: dict | None = None) -> np.ndarray:
    """float32 rows x features of ``frame``: each feature from ``frame``, else from ``extra`` ({column: array in
    the frame's order}), else NaN; read column by column into one matrix (no frame holding both is built).
    The matrix is scratch memory: the next call overwrites it."""
    X = _scratch_matrix(len(frame), len(features))
    for j, name in enumerate(features):
        values = frame[name] if name in frame.columns else (extra or {}).get(name)
        if values is not None:
            X[:, j] = pd.Series(values, copy=False).to_numpy(dtype=np.float32, na_value=np.nan)
    return X


_SCRATCH = [np.empty(0, np.float32)]


def _scratch_matrix(rows: int, cols: int) -> np.ndarray:
    """A rows x cols float32 matrix of NaN in memory kept from the previous call: rank scores a chunk at a
    time, and memory a process has just freed is handed back to the machine and costs page faults to fill
    again (seconds per GB on a virtual machine; ``bench/memory_touch.py``)."""
    if _SCRATCH[0].size < rows * cols:
        _SCRATCH[0] = np.empty(rows * cols, np.float32)
    X = _SCRATCH[0][:rows * cols].reshape(rows, cols)
    X.fill(np.nan)
    return X


def save_ranker(model, meta: dict, directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    model.save_model(str(directory / "model.json"))
    io.write_json(meta, directory / "ranker.json")
    return directory


def load_ranker(directory: Path):
    """(model, meta) saved by ``save_ranker``; meta["features"] are the columns ``score`` needs."""
    from xgboost import XGBRanker

    model = XGBRanker()
    model.load_model(str(directory / "model.json"))
    return model, io.read_json(directory / "ranker.json")


def validation_metrics(model, valid: pd.DataFrame, features: list[str], k: int) -> dict:
    """AUC (label > 0) and mean NDCG@k over validation queries with a positive, for the model and for
    the retrieval order (``retrieval_score``) as the reference it has to beat."""
    from sklearn.metrics import roc_auc_score

    if valid.empty:
        return {}
    s = score(model, valid, features)
    y = (valid[LABEL].to_numpy() > 0).astype(int)
    out = {"rows": len(valid), "auc": float(roc_auc_score(y, s)) if 0 < y.sum() < len(y) else None,
           f"ndcg@{k}": ndcg_of_scores(valid, s, k)}
    if "retrieval_score" in valid.columns:
        out[f"retrieval_ndcg@{k}"] = ndcg_of_scores(valid, valid["retrieval_score"].to_numpy(), k)
    return out
