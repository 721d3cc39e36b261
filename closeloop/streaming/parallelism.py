"""The feedback job's parallelism: as set, or one source subtask per partition of its input topics."""

from __future__ import annotations

from closeloop.kafka.admin import partition_count
from closeloop.streaming.settings import FeedbackJobSettings

__all__ = ["resolve_parallelism"]


def resolve_parallelism(settings: FeedbackJobSettings) -> int:
    """`job_parallelism`, or the larger partition count of the predictions and feedback topics.

    A Kafka source subtask reads whole partitions: more subtasks than partitions
    read nothing, fewer leave partitions to share a subtask.
    """
    if settings.job_parallelism is not None:
        return settings.job_parallelism
    topics = settings.topics
    return max(partition_count(settings.kafka_bootstrap, t) for t in (topics.predictions, topics.feedback))
