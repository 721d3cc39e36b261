"""Kafka plumbing shared by the stack, the gateway, the DAGs and the tests."""
