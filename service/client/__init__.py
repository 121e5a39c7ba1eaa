"""The `callcue play|status|cancel|tail` client: it talks to a running callcue only over its HTTP API.

Nothing here imports the web app, the store or the workers, so the client works against any
deployment, and the API stays the one contract between them.
"""

from __future__ import annotations

from service.client.commands import add_client_commands

__all__ = ["add_client_commands"]
