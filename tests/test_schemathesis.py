"""Schemathesis against /openapi.json, with real processes: no 5xx, and answers match the schema."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from service.devstack import DevStack
from service.web.openapi import document

schema = schemathesis.openapi.from_dict(document())


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevStack]:
    with DevStack(speed=20, log_dir=tmp_path_factory.mktemp("schemathesis")) as running:
        yield running


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_api(case: schemathesis.Case[Any], stack: DevStack) -> None:
    case.call_and_validate(base_url=stack.web_url, headers={"Authorization": f"Bearer {stack.api_key}"})
