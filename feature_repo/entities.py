"""Entities: who or what a feature row describes. Join keys are vidrec.tables' column names."""

from feast import Entity, ValueType

user = Entity(name="user", join_keys=["user_id"], value_type=ValueType.STRING, description="a viewer")
video = Entity(name="video", join_keys=["video_id"], value_type=ValueType.STRING, description="a catalog video")
creator = Entity(name="creator", join_keys=["creator_id"], value_type=ValueType.STRING,
                 description="a video's creator (creator_* features live on video_features)")
