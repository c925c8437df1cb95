"""Fixtures for the service tests: the adapters' small network, for reconciliation against it."""

from tests.unit.adapters.conftest import network_store  # noqa: F401 - a fixture, found by its name
