"""``CandidateParams``: every knob of retrieval (the candidate sources, their fusion, related videos).

Its own module because both ``models.retrieval.candidates`` and each source module of
``models.retrieval.sources`` read it, and candidates imports the sources; ``candidates`` re-exports it.
"""

from __future__ import annotations

from dataclasses import dataclass

from models import io, parameters
from vidrec.settings import Settings


@dataclass(frozen=True)
class CandidateParams:
    als_k: int = 200
    cowatch_k: int = 100
    cowatch_neighbours: int = 50   # co-watch neighbours kept per video
    cowatch_method: str = "cosine" # "cosine" co-occurrence or "ease" (models.retrieval.similarity.item_similarity)
    ease_l2: float = 500.0         # EASE's L2 penalty (cowatch_method "ease")
    recent_videos: int = 10        # a user's latest positive videos: co-watch seeds
    reason_videos: int = 10        # a user's latest positive videos a reason may name (<= recent_videos)
    recency_decay: float = 0.85    # weight of the n-th latest seed: decay ** n
    top_categories: int = 3
    top_creators: int = 3
    content_k: int = 60            # per category; and content_k // 3 per creator
    popular_days: int = 7
    trending_k: int = 50
    trending_days: int = 1
    fresh_days: int = 7
    fresh_k: int = 50              # per category
    related_k: int = 50
    text_k: int = 10               # recent uploads per user by text (models.retrieval.sources.text)
    lookback_days: int = io.DEFAULT_LOOKBACK_DAYS
    exclusion_days: int = io.DEFAULT_EXCLUSION_DAYS

    @classmethod
    def from_settings(cls, settings: Settings, **overrides) -> "CandidateParams":
        """The parameters file's ``candidates`` (``models.parameters``; what ``vidrec eval`` measured), with
        ``VIDREC_COWATCH_METHOD`` when set and the nightly's window; ``overrides`` win over all of them."""
        values = parameters.section(settings, "candidates", cls)
        if settings.cowatch_method:
            values["cowatch_method"] = settings.cowatch_method
        return cls(**{**values, "lookback_days": io.lookback_days(settings), **overrides})
