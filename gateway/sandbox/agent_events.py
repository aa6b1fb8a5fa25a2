"""The events of a session created with ``stream: true``, sent as ``text/event-stream`` messages
named by their ``type``, with no ``[DONE]``: the session is created, runs its turn, streams the
reply's text and goes idle.

Every event has an ``event_id``. Session events carry the session as it was then; turn events
carry ``session_id`` and ``turn_id``. The SDK's ``get_final_result()`` collects the reply from
``agent.session.turn.item.done`` and stops at ``agent.session.idle`` after the turn completed.
"""

from __future__ import annotations

from .store import JsonObject, new_id


def session_events(session: JsonObject, turn: JsonObject, items: list[JsonObject]) -> list[JsonObject]:
    """``items`` are the turn's: the input messages, then the assistant's reply."""
    *inputs, reply = items
    text = reply["content"][0]["text"]
    queued = {**turn, "status": "queued", "started_at": None, "completed_at": None, "usage": None}
    running = {**queued, "status": "in_progress", "started_at": turn["started_at"]}
    at = {"session_id": session["id"], "turn_id": turn["id"]}
    part = {**at, "item_id": reply["id"], "output_index": 0, "content_index": 0}
    events: list[JsonObject] = [
        {"type": "agent.session.created", "session": {**session, "usage": None}},
        {"type": "agent.session.in_progress", "session": {**session, "status": "in_progress"}},
        {"type": "agent.session.turn.created", **at, "turn": queued},
        {"type": "agent.session.turn.in_progress", **at, "turn": running},
        *({"type": "agent.session.turn.item.added", **at, "item": item} for item in inputs),
        {
            "type": "agent.session.turn.item.added",
            **at,
            "item": {**reply, "status": "in_progress", "content": []},
            "output_index": 0,
        },
        {"type": "agent.session.turn.output_text.delta", **part, "delta": text},
        {"type": "agent.session.turn.output_text.done", **part, "text": text},
        {"type": "agent.session.turn.item.done", **at, "item": reply, "output_index": 0},
        {"type": "agent.session.turn.completed", **at, "turn": turn, "usage": turn["usage"]},
        {"type": "agent.session.idle", "session": session},
    ]
    # `type` then `event_id` lead every event, as the SDK's models list them.
    return [{"type": e.pop("type"), "event_id": new_id("event_"), **e} for e in events]
