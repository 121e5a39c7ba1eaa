"""The emulator is written from the ACS documentation: it must not share code with what it tests."""

from __future__ import annotations

import ast
from pathlib import Path

import emulator

FORBIDDEN = ("service", "workers")


def test_the_emulator_imports_neither_service_nor_workers() -> None:
    offenders: list[str] = []
    for path in Path(emulator.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module is not None and node.level == 0:
                names = [node.module]
            offenders += [f"{path.name}: {name}" for name in names if name.split(".")[0] in FORBIDDEN]
    assert offenders == []
