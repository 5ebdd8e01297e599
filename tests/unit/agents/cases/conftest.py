"""Fixtures of the case-stage tests: the broker-free harness (harness.py)."""

from tests.unit.agents.cases.harness import cases, valkey

__all__ = ["cases", "valkey"]
