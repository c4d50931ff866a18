"""What videos are about, from their words: tags, title and category as one vector per video, so a video
nobody has watched yet has related videos and reaches the users whose videos read alike.

``text_vectors``: each video's tokens (its tags, weighted ``TAG_WEIGHT``; its title's words; its category)
hashed into a sparse TF-IDF matrix (scikit-learn's HashingVectorizer: no vocabulary to hold), reduced to
``dims`` dense dimensions (truncated SVD: synonyms that co-occur share directions) and L2-normalized, so an
inner product is a cosine. ``TextSpace`` indexes them (``models.retrieval.ann_index``: exact search for small
catalogs, ScaNN's tree for large ones) for two uses:
- ``related_by_text``: each catalog video's nearest videos (the related lists' ``text`` source);
- ``text_source``: a user's profile (their recent positive videos' vectors, weighted by confidence and
  recency, ``seed_matrix``) against the catalog's recent uploads (``fresh_days``): the ``text`` candidate
  source, which reaches new videos by what they are about, before anyone watched them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from models.retrieval.ann_index import AnnParams, build_index
from models.retrieval.fusion import source_frame
from models.retrieval.history import History
from models.retrieval.params import CandidateParams
from vidrec.tables import VIDEO_ID

TAG_WEIGHT = 2  # a tag counts as this many title words
N_FEATURES = 2**18
_WORD = re.compile(r"[^\W\d_]{2,}")


def tokens(title, category, tags) -> list[str]:
    """A video's tokens: ``tag:`` each tag (TAG_WEIGHT times), ``w:`` each title word, ``cat:`` its category."""
    out = [f"cat:{str(category).lower()}"] if isinstance(category, str) else []
    for tag in (tags if tags is not None and not isinstance(tags, float) else ()):
        out += [f"tag:{str(tag).lower()}"] * TAG_WEIGHT
    return out + [f"w:{w}" for w in _WORD.findall(str(title).lower())] if isinstance(title, str) else out


def text_vectors(videos: pd.DataFrame, dims: int = 64, seed: int = 0) -> np.ndarray:
    """(n videos x d) float32, L2-normalized (a video without tokens shared with another: zeros); d <= ``dims``."""
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import HashingVectorizer, TfidfTransformer

    tags = videos["tags"] if "tags" in videos.columns else pd.Series(None, index=videos.index, dtype=object)
    docs = [tokens(t, c, g) for t, c, g in zip(videos["title"], videos["category"], tags)]
    counts = HashingVectorizer(analyzer=lambda doc: doc, n_features=N_FEATURES, alternate_sign=False,
                               norm=None).transform(docs).tocsc()
    counts = counts[:, np.flatnonzero(counts.getnnz(axis=0) >= 2)].tocsr()  # a token of one video relates none
    if counts.shape[1] == 0:  # no shared words (a catalog of bare ids): no text space, and no SVD to pay for
        return np.zeros((len(videos), 1), np.float32)
    tfidf = TfidfTransformer(sublinear_tf=True).fit_transform(counts)
    k = min(dims, tfidf.shape[0] - 1, int((tfidf.getnnz(axis=0) > 0).sum()) - 1)
    dense = (TruncatedSVD(k, random_state=seed).fit_transform(tfidf) if k >= 1 else tfidf.toarray()[:, :1])
    norms = np.linalg.norm(dense, axis=1, keepdims=True)
    return (dense / np.where(norms > 0, norms, 1.0)).astype(np.float32)


@dataclass
class TextSpace:
    """The as-of catalog's text vectors (by catalog code) and two indexes: all videos, and the recent ones."""

    vectors: np.ndarray
    index: object
    fresh_codes: np.ndarray
    fresh_index: object | None


def text_space(history: History, params: CandidateParams, quality: pd.DataFrame,
               ann: AnnParams = AnnParams()) -> TextSpace:
    """``quality``: ``models.retrieval.sources.content.video_quality`` (its ``freshness`` and ``code``)."""
    videos = history.videos
    vectors = np.zeros((len(history.video_ids), 1), np.float32)
    if len(videos):
        own = text_vectors(videos)
        vectors = np.zeros((len(history.video_ids), own.shape[1]), np.float32)
        vectors[history.video_codes(videos[VIDEO_ID])] = own
    fresh = np.sort(quality.loc[quality["freshness"] > 0, "code"].to_numpy(np.int64))
    fresh = fresh[fresh >= 0]
    return TextSpace(vectors, build_index(vectors, ann) if len(vectors) else None, fresh,
                     build_index(vectors[fresh], ann) if len(fresh) else None)


def related_by_text(space: TextSpace, video_ids: np.ndarray, k: int) -> pd.DataFrame:
    """(video_id, related_id, score): each catalog video's ``k`` nearest by text (itself and zero vectors out)."""
    if space.index is None:
        return pd.DataFrame({VIDEO_ID: [], "related_id": [], "score": []})
    found, scores = space.index.search(space.vectors, min(k + 1, space.index.n_items))
    rows = np.repeat(np.arange(len(space.vectors)), found.shape[1]).reshape(found.shape)
    ok = (found >= 0) & (found != rows) & (scores > 1e-6)
    return pd.DataFrame({VIDEO_ID: video_ids[rows[ok]], "related_id": video_ids[found[ok]], "score": scores[ok]})


def text_source(space: TextSpace, seeds: sp.csr_matrix, seed_codes: np.ndarray, k: int) -> pd.DataFrame:
    """Per user (a row of ``seeds``: their recent positive videos, by ALS video row, weighted), the ``k``
    recent uploads nearest to their profile; ``seed_codes``: the catalog code of each ALS video row."""
    if space.fresh_index is None or seeds.nnz == 0:
        return source_frame([], [], [])
    coo = seeds.tocoo()
    known = seed_codes[coo.col] >= 0
    weights = sp.csr_matrix((coo.data[known], (coo.row[known], seed_codes[coo.col[known]])),
                            shape=(seeds.shape[0], len(space.vectors)))
    users = np.flatnonzero(weights.getnnz(axis=1))
    profiles = np.asarray(weights[users] @ space.vectors, np.float32)
    found, scores = space.fresh_index.search(profiles, min(k, space.fresh_index.n_items))
    ok = (found >= 0) & (scores > 1e-6)
    positions = np.repeat(users, found.shape[1]).reshape(found.shape)
    return source_frame(positions[ok], space.fresh_codes[found[ok]], scores[ok])
