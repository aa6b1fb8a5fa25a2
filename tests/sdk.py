"""What a refusal looks like to the official SDK: the status and the error's code and param."""

from __future__ import annotations

from collections.abc import Callable

import openai
import pytest


def refusal(step: Callable[[], object]) -> tuple[int, str | None, str | None]:
    """Status, code and param of the refusal `step` meets."""
    with pytest.raises(openai.APIStatusError) as caught:
        step()
    body = caught.value.body
    assert isinstance(body, dict), body
    return caught.value.status_code, body.get("code"), body.get("param")


def refused(step: Callable[[], object]) -> tuple[int, str | None]:
    """Status and code of the refusal `step` meets."""
    return refusal(step)[:2]
