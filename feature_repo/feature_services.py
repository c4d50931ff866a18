"""Feature services: one per consumer and version. Never change a published one in place; add _v2."""

from feast import FeatureService

from feature_views import user_features, user_realtime, video_features

ranker_v1 = FeatureService(
    name="ranker_v1",
    features=[
        user_features[[
            "views_1d", "views_7d", "views_30d", "likes_7d", "likes_30d", "skips_7d", "skips_30d",
            "not_interested_30d", "watch_ms_7d", "watch_ms_30d", "like_rate_30d", "skip_rate_30d",
            "top_categories", "top_creators",
        ]],
        video_features[[
            "impressions_7d", "views_1d", "views_7d", "views_30d", "likes_7d", "skips_7d", "ctr_7d",
            "mean_watch_fraction_7d", "completion_rate_7d", "trending_score", "age_days", "creator_id", "category",
            "creator_views_30d", "creator_like_rate_30d",
        ]],
    ],
    description="batch features of the XGBoost ranker (training via historical features, batch scoring)",
)

serving_v1 = FeatureService(
    name="serving_v1",
    features=[
        user_realtime,
        user_features[["region", "last_watched"]],
        video_features[["creator_id", "category", "age_days"]],
    ],
    description="what the API's last-mile filters read online: the session overlay and a few display fields",
)
