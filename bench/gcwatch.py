"""EXPERIMENT, not callcue: ``callcue web`` or ``callcue worker`` with its garbage collections logged,
and optionally ``gc.freeze()``-d once everything is imported.

    python -m bench.gcwatch [--freeze] web|worker

Every collection that stops the running process (after start-up) for more than 5 ms is logged as
``gcwatch: generation G took T ms``. With ``--freeze``, the objects alive after the imports (modules,
classes, functions: most of the heap) move to the permanent generation, so a full collection no longer
walks them. ``python -m bench.gap --gc watch|freeze`` runs web and worker this way.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from typing import Any

THRESHOLD_MS = 5.0


def install_watch(threshold_ms: float = THRESHOLD_MS) -> None:
    started: dict[str, float] = {}

    def callback(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            started["t"] = time.perf_counter()
            return
        took = (time.perf_counter() - started.get("t", time.perf_counter())) * 1000
        # Before the start-up heap is frozen (callcue freezes it once imports are done), the
        # process is still starting: those collections are not pauses of a running service.
        if took > threshold_ms and gc.get_freeze_count():
            print(f"gcwatch: generation {info['generation']} took {took:.1f} ms", file=sys.stderr, flush=True)

    gc.callbacks.append(callback)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.gcwatch", description=__doc__.split("\n")[0])
    parser.add_argument("--freeze", action="store_true")
    parser.add_argument("process", choices=["web", "worker"])
    args = parser.parse_args(argv)
    # Import what the process will use before freezing, so that it is what the freeze keeps.
    import rq  # noqa: F401
    import uvicorn  # noqa: F401

    import service.web.app  # noqa: F401
    import workers.main  # noqa: F401
    from service.cli import main as callcue

    install_watch()
    if args.freeze:
        gc.collect()
        gc.freeze()
    return callcue([args.process])


if __name__ == "__main__":
    raise SystemExit(main())
