"""The custom components' unit tests run in the Rasa environment (``make test`` runs them)."""

from __future__ import annotations

import pytest
from rasa.engine.graph import ExecutionContext, GraphSchema


@pytest.fixture
def context() -> ExecutionContext:
    return ExecutionContext(GraphSchema({}), node_name="component_under_test")
