"""The live call timeline pages under /ui: plain HTML, CSS and JS served by the web app, no build step."""

from __future__ import annotations

from service.ui.routes import ui_routes

__all__ = ["ui_routes"]
