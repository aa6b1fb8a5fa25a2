"""``files-gateway sandbox``: a local emulator of the OpenAI APIs the gateway governs.

Faithful enough for the official ``openai`` SDK to run against it directly
(``base_url="http://127.0.0.1:PORT/v1"``); see DESIGN.md §10.
"""

from __future__ import annotations

from .app import create_sandbox_app, run_sandbox

__all__ = ["create_sandbox_app", "run_sandbox"]
