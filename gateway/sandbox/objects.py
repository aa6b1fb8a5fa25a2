"""Well-formed, minimal result objects for the model-facing APIs the sandbox fakes."""

from __future__ import annotations

from .store import JsonObject, new_id

DEFAULT_MODEL = "gpt-sandbox"
# A 1x1 transparent PNG, for image edits.
PIXEL_PNG_B64 = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)


def usage(prompt: int = 10, completion: int = 5) -> JsonObject:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def chat_completion(model: str, text: str, created: int) -> JsonObject:
    return {
        "id": new_id("chatcmpl-"),
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text, "refusal": None},
                "finish_reason": "stop",
                "logprobs": None,
            }
        ],
        "usage": usage(),
        "system_fingerprint": None,
    }


def response(model: str, text: str, created: int) -> JsonObject:
    return {
        "id": new_id("resp_"),
        "object": "response",
        "created_at": created,
        "completed_at": created,
        "status": "completed",
        "model": model,
        "output": [
            {
                "type": "message",
                "id": new_id("msg_"),
                "status": "completed",
                "role": "assistant",
                "content": [{"type": "output_text", "text": text, "annotations": []}],
            }
        ],
        "error": None,
        "incomplete_details": None,
        "instructions": None,
        "metadata": {},
        "parallel_tool_calls": True,
        "previous_response_id": None,
        "background": False,
        "store": True,
        "max_output_tokens": None,
        "reasoning": {"effort": None, "summary": None},
        "service_tier": "default",
        "temperature": 1.0,
        "text": {"format": {"type": "text"}},
        "tool_choice": "auto",
        "tools": [],
        "top_p": 1.0,
        "truncation": "disabled",
        "user": None,
        "usage": {
            "input_tokens": 10,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": 5,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": 15,
        },
    }


def embeddings(model: str) -> JsonObject:
    return {
        "object": "list",
        "data": [{"object": "embedding", "index": 0, "embedding": [0.0, 0.0, 0.0]}],
        "model": model,
        "usage": {"prompt_tokens": 1, "total_tokens": 1},
    }


def for_endpoint(endpoint: str, model: str, created: int) -> JsonObject:
    """The body one batch request line would have produced."""
    text = "Sandbox batch output."
    if endpoint == "/v1/chat/completions":
        return chat_completion(model, text, created)
    if endpoint == "/v1/responses":
        return response(model, text, created)
    if endpoint == "/v1/embeddings":
        return embeddings(model)
    return {"object": "sandbox.result", "model": model}


def image_edit(created: int) -> JsonObject:
    return {
        "created": created,
        "data": [{"b64_json": PIXEL_PNG_B64}],
        "usage": {
            "input_tokens": 10,
            "input_tokens_details": {"image_tokens": 5, "text_tokens": 5},
            "output_tokens": 10,
            "total_tokens": 20,
        },
    }
