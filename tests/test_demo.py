"""`callcue demo` (what `make demo` runs) passes its own checks, in both ACS dialects."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


@pytest.mark.timeout(90)
@pytest.mark.parametrize("api_version", ["2021-08-30-preview", "2024-09-15"])
def test_demo(api_version: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLCUE_") and k != "REDIS_URL"}
    env["CALLCUE_ACS_API_VERSION"] = api_version
    done = subprocess.run(
        [sys.executable, "-m", "service.cli", "demo"], env=env, capture_output=True, text=True, timeout=80
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "demo OK: 4 plays, 3 completed, the last failed with 8535" in done.stdout
    assert "sequence failed: audio file format is invalid (8535)" in done.stdout
