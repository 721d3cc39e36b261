"""Create and inspect topics with confluent-kafka's AdminClient."""

from __future__ import annotations

from confluent_kafka import KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, ClusterMetadata, NewTopic, OffsetSpec

from closeloop.errors import CloseloopError, WaitTimeout
from closeloop.waiting import wait_until

__all__ = ["KafkaAdminError", "admin_client", "ensure_topics", "list_topics", "partition_count"]


class KafkaAdminError(CloseloopError):
    """A topic could not be created or the cluster could not be reached."""


def admin_client(bootstrap: str) -> AdminClient:
    # log_level 0: librdkafka's own connection-refused chatter would drown the
    # caller's messages while a broker is still starting.
    return AdminClient({"bootstrap.servers": bootstrap, "log_level": 0})


def list_topics(bootstrap: str, *, timeout: float = 5.0) -> set[str]:
    """The topic names of the cluster; raises KafkaAdminError if it cannot be reached."""
    try:
        metadata = admin_client(bootstrap).list_topics(timeout=timeout)
    except KafkaException as exc:
        raise KafkaAdminError(f"cannot reach Kafka at {bootstrap}: {exc}") from exc
    return set(metadata.topics)


def partition_count(bootstrap: str, topic: str, *, timeout: float = 10.0) -> int:
    """How many partitions the topic has; raises KafkaAdminError if it is missing or Kafka unreachable."""
    try:
        metadata = admin_client(bootstrap).list_topics(topic, timeout=timeout)
    except KafkaException as exc:
        raise KafkaAdminError(f"cannot reach Kafka at {bootstrap}: {exc}") from exc
    if not (partitions := _partitions(metadata, topic)):
        found = metadata.topics.get(topic)
        why = found.error if found is not None and found.error is not None else "no such topic"
        raise KafkaAdminError(f"topic {topic} on {bootstrap}: {why}")
    return len(partitions)


def _partitions(metadata: ClusterMetadata, topic: str) -> list[int]:
    """The topic's partition ids as the metadata has them; none while it is missing or in error."""
    found = metadata.topics.get(topic)
    return [] if found is None or found.error is not None else list(found.partitions)


def ensure_topics(
    bootstrap: str,
    names: list[str],
    *,
    partitions: int,
    replication_factor: int = 1,
    timeout: float = 30.0,
) -> list[str]:
    """Create the topics that do not exist yet; returns the names it created."""
    existing = list_topics(bootstrap, timeout=timeout)
    wanted = [n for n in names if n not in existing]
    if not wanted:
        return []
    # The client must outlive the futures, or librdkafka destroys it mid-request.
    admin = admin_client(bootstrap)
    futures = admin.create_topics(
        [NewTopic(n, num_partitions=partitions, replication_factor=replication_factor) for n in wanted],
        operation_timeout=timeout,
        request_timeout=timeout,
    )
    created = []
    for name, future in futures.items():
        try:
            future.result(timeout=timeout)
            created.append(name)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise KafkaAdminError(f"cannot create topic {name} on {bootstrap}: {exc}") from exc
    _wait_until_served(admin, wanted, timeout)
    return created


def _wait_until_served(admin: AdminClient, names: list[str], timeout: float) -> None:
    """Until every partition of ``names`` answers for its offsets.

    The controller acknowledges a new topic before its partition's broker has
    become leader: a client that asks for offsets at once is told "not leader
    for partition".
    """

    def served() -> bool:
        metadata = admin.list_topics(timeout=timeout)
        partitions = {name: _partitions(metadata, name) for name in names}
        if not all(partitions.values()):
            return False
        latest = {TopicPartition(n, p): OffsetSpec.latest() for n, ps in partitions.items() for p in ps}
        for future in admin.list_offsets(latest, request_timeout=timeout).values():
            future.result()
        return True

    try:
        wait_until(
            served,
            timeout,
            f"Kafka to serve the new topics {', '.join(names)}",
            interval=0.2,
            retry_on=KafkaException,
        )
    except WaitTimeout as exc:
        raise KafkaAdminError(str(exc)) from exc
