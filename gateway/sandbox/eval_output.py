"""What an eval run produces: one output item per row of its data source, every one a pass.

A ``file_id`` source's rows are the lines of that file as stored here, and a ``file_content``
source's are the rows sent inline: the ``item`` of each (a row without one is its own item).
So an output item shows its file's bytes, as OpenAI's do. Sources the sandbox does not keep
(stored completions, responses) have no rows, and their runs no items.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from .evals import hex_id
from .state import SandboxState
from .store import JsonObject


class BadRow(Exception):
    """A row that is not a JSON object: the run fails with ``error`` instead of producing items."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.error: JsonObject = {"code": "invalid_data_source", "message": message}


async def source_rows(state: SandboxState, data_source: JsonObject) -> list[JsonObject]:
    source = data_source.get("source")
    if not isinstance(source, dict):
        return []
    if source.get("type") == "file_id":
        # check_references has already refused an unknown file.
        file_id = str(source["id"])
        lines = await asyncio.to_thread(_lines, state.files.path(file_id))
        return [_parsed(line, f"Line {n} of {file_id}") for n, line in lines]
    if source.get("type") == "file_content" and isinstance(source.get("content"), list):
        return [_item(row, f"data_source.source.content[{index}]")
                for index, row in enumerate(source["content"])]
    return []


def _lines(path: Path) -> list[tuple[int, str]]:
    """The file's non-blank lines, numbered from 1 as an editor numbers them."""
    with path.open(encoding="utf-8", errors="replace") as handle:
        return [(number, line) for number, line in enumerate(handle, 1) if line.strip()]


def _parsed(line: str, where: str) -> JsonObject:
    try:
        row = json.loads(line)
    except ValueError:
        raise BadRow(f"{where} is not valid JSON.") from None
    return _item(row, where)


def _item(row: object, where: str) -> JsonObject:
    if not isinstance(row, dict):
        raise BadRow(f"{where} is not a JSON object.")
    item = row.get("item")
    return item if isinstance(item, dict) else row


def output_item(run: JsonObject, index: int, row: JsonObject, criteria: list[JsonObject]) -> JsonObject:
    return {
        "object": "eval.run.output_item",
        "id": hex_id("outputitem_"),
        "run_id": run["id"],
        "eval_id": run["eval_id"],
        "created_at": run["created_at"],
        "status": "pass",
        "datasource_item_id": index,
        "datasource_item": row,
        "results": [_result(criterion) for criterion in criteria],
        "sample": _sample(run["model"]),
    }


def _result(criterion: JsonObject) -> JsonObject:
    """A grader's verdict, its type named as OpenAI names graders (``string-check-grader``)."""
    kind = str(criterion.get("type", "")).replace("_", "-")
    return {"name": criterion["name"], "type": f"{kind}-grader", "score": 1.0, "passed": True,
            "sample": None}


def _sample(model: str) -> JsonObject:
    """Nothing was sampled: the sandbox grades the rows as they are."""
    return {
        "input": [],
        "output": [],
        "finish_reason": "stop",
        "model": model,
        "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0, "cached_tokens": 0},
        "error": None,
        "temperature": 1.0,
        "max_completion_tokens": 0,
        "top_p": 1.0,
        "seed": 0,
    }
