"""Named crash points, for the reliability tests: die exactly here, as kill -9 would.

``CALLCUE_CRASH_AT=<name>`` ends the process with ``os._exit`` the first time the named point
is reached; ``<name>:<n>`` the n-th time. Unset (always, outside those tests) it costs one
dictionary lookup. Names are listed in CRASH_POINTS and in docs/RELIABILITY.md.
"""

from __future__ import annotations

import os
import sys

CRASH_POINTS = (
    "web.after_commit",  # a callback's transition is stored, the 2xx not yet sent
    "web.after_start",  # a new sequence is stored, the 202 not yet sent
    "pump.after_claim",  # due outbox entries are leased, no job enqueued yet
    "pump.after_enqueue",  # an RQ job has the entries (a new one, or this process's running one)
    "worker.before_ledger",  # the job runs, the play is not yet marked as requested
    "worker.after_ledger",  # the play is marked as requested, the request not yet sent
    "worker.after_request",  # ACS has the request, its answer is not yet recorded
    "worker.after_outcome",  # the answer is recorded, the outbox entry not yet removed
)
EXIT_CODE = 86

_name, _, _nth = os.environ.get("CALLCUE_CRASH_AT", "").partition(":")
_remaining = int(_nth) if _nth.isdigit() else 1


def crash_point(name: str) -> None:
    global _remaining
    if name != _name:
        return
    _remaining -= 1
    if _remaining == 0:
        sys.stderr.write(f"callcue: crash point {name} reached, exiting\n")
        sys.stderr.flush()
        os._exit(EXIT_CODE)
