"""The official SDK as the tests use it: what a refusal looks like to it (the status and the
error's code and param), and a caller's upload."""

from __future__ import annotations

import io
from collections.abc import Callable

import openai
import pytest

from tests.conftest import Gateway


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


def upload(gateway: Gateway, who: str, purpose: str = "user_data", access: str | None = None,
           data: bytes = b"%PDF-1.4\n", filename: str = "d.pdf") -> str:
    """A file of `who`'s, its flags asked for with the X-File-Access header."""
    return gateway.client(who).files.create(
        file=(filename, io.BytesIO(data)), purpose=purpose,  # type: ignore[arg-type]
        extra_headers={"X-File-Access": access} if access else {},
    ).id
