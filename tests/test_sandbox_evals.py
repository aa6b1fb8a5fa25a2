"""The sandbox's Evals API, driven as a user would: the official SDK and raw HTTP against a real
sandbox server. Evals, their runs, and the output items that show a run's rows."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any, cast

import pytest
from openai import OpenAI

from tests.conftest import Sandbox
from tests.http import Reply, call
from tests.test_sandbox_stored import error, refusal

HEADERS = {"Authorization": "Bearer sk-test", "Content-Type": "application/json"}
ITEM_SCHEMA: dict[str, Any] = {"type": "object", "properties": {"question": {"type": "string"}}}
CUSTOM: Any = {"type": "custom", "item_schema": ITEM_SCHEMA, "include_sample_schema": True}
CRITERIA: Any = [{"type": "string_check", "name": "same", "input": "{{item.question}}",
                  "reference": "x", "operation": "eq"}]
ROWS = b'{"item": {"question": "secret one"}}\n\n{"question": "secret two"}\n'


@pytest.fixture
def client(sandbox: Sandbox) -> Iterator[OpenAI]:
    with OpenAI(api_key="sk-test", base_url=sandbox.url + "/v1", max_retries=0) as sdk:
        yield sdk


def send(sandbox: Sandbox, method: str, path: str, body: Any = None) -> Reply:
    return call(sandbox.url, method, path, HEADERS, None if body is None else json.dumps(body).encode())


def make_eval(client: OpenAI, name: str = "e") -> str:
    return client.evals.create(name=name, data_source_config=CUSTOM, testing_criteria=CRITERIA).id


def file_run(client: OpenAI, eval_id: str, content: bytes = ROWS) -> str:
    data = client.files.create(file=("rows.jsonl", io.BytesIO(content)), purpose="evals")
    return client.evals.runs.create(
        eval_id, data_source={"type": "jsonl", "source": {"type": "file_id", "id": data.id}}).id


# Evals


def test_eval_lifecycle(client: OpenAI) -> None:
    """Create answers ``schema`` for the item schema sent; update renames and re-tags; delete
    answers ``eval.deleted`` and the id is then unknown."""
    made = client.evals.create(name="tickets", data_source_config=CUSTOM, testing_criteria=CRITERIA,
                               metadata={"team": "a"})
    assert (made.object, made.name, made.metadata) == ("eval", "tickets", {"team": "a"})
    assert made.id.startswith("eval_") and len(made.id) == len("eval_") + 32
    config = made.data_source_config
    assert (config.type, config.schema_["required"]) == ("custom", ["item", "sample"])
    properties = cast(dict[str, Any], config.schema_["properties"])
    assert properties["item"] == ITEM_SCHEMA and set(properties) == {"item", "sample"}
    [criterion] = made.testing_criteria
    assert criterion.name == "same" and str(getattr(criterion, "id", "")).startswith("same-")
    assert client.evals.retrieve(made.id).to_dict() == made.to_dict()

    renamed = client.evals.update(made.id, name="renamed")
    assert (renamed.name, renamed.metadata) == ("renamed", {"team": "a"})
    assert client.evals.update(made.id, metadata={"team": "b"}).metadata == {"team": "b"}
    assert client.evals.retrieve(made.id).name == "renamed"
    deleted = client.evals.delete(made.id)
    assert (deleted.object, deleted.deleted, deleted.eval_id) == ("eval.deleted", True, made.id)
    for gone in (lambda: client.evals.retrieve(made.id), lambda: client.evals.delete(made.id),
                 lambda: client.evals.update(made.id, name="x")):
        assert refusal(gone) == (404, error(f"Eval with id '{made.id}' not found."))


@pytest.mark.parametrize(
    ("config", "answered_type", "namespaces"),
    [
        ({"type": "custom", "item_schema": ITEM_SCHEMA}, "custom", ["item"]),
        ({"type": "logs", "metadata": {"usecase": "chatbot"}}, "logs", ["item", "sample"]),
        ({"type": "stored_completions"}, "stored_completions", ["item", "sample"]),
    ],
    ids=["custom without sample", "logs", "stored completions"],
)
def test_data_source_configs(client: OpenAI, config: Any, answered_type: str,
                             namespaces: list[str]) -> None:
    """Each config type is answered with the namespaces criteria may name in its schema."""
    made = client.evals.create(data_source_config=config, testing_criteria=[])
    assert made.data_source_config.type == answered_type
    assert made.data_source_config.schema_["required"] == namespaces
    assert made.name == made.id  # an unnamed eval is named by its id


@pytest.mark.parametrize(
    ("body", "status", "param", "code"),
    [
        ({"testing_criteria": []}, 400, "data_source_config", "missing_required_parameter"),
        ({"data_source_config": CUSTOM}, 400, "testing_criteria", "missing_required_parameter"),
        ({"data_source_config": CUSTOM, "testing_criteria": {}}, 400, "testing_criteria",
         "invalid_type"),
        ({"data_source_config": {"type": "custom"}, "testing_criteria": []}, 400,
         "data_source_config.item_schema", "missing_required_parameter"),
        ({"data_source_config": CUSTOM, "testing_criteria": [], "metadata": {"a": 1}}, 400,
         "metadata", "invalid_type"),
    ],
    ids=["no config", "no criteria", "criteria not a list", "custom without item_schema",
         "metadata not strings"],
)
def test_eval_create_refusals(sandbox: Sandbox, body: Any, status: int, param: str, code: str) -> None:
    """A malformed eval is OpenAI's 400 naming the parameter at fault."""
    reply = send(sandbox, "POST", "/v1/evals", body)
    assert (reply.status, reply.json()["error"]["param"], reply.code) == (status, param, code)


def test_unknown_config_type_is_refused(sandbox: Sandbox) -> None:
    """A config type outside custom, logs and stored_completions is refused by name."""
    reply = send(sandbox, "POST", "/v1/evals",
                 {"data_source_config": {"type": "nope"}, "testing_criteria": []})
    assert (reply.status, reply.json()) == (400, {"error": error(
        "'nope' is not one of ['custom', 'logs', 'stored_completions'] - 'data_source_config.type'")})


def test_eval_list_orders_and_pages(client: OpenAI) -> None:
    """Oldest first by default; pages by ``after``/``limit``; ``order_by=updated_at`` puts the
    last changed last."""
    made = [make_eval(client, name) for name in ("a", "b", "c")]
    first = client.evals.list(limit=2)
    assert ([e.id for e in first.data], first.has_more) == (made[:2], True)
    assert [e.id for e in client.evals.list(limit=2)] == made  # the SDK pages on with `after`
    assert [e.id for e in client.evals.list(order="desc")] == made[::-1]
    assert [e.id for e in client.evals.list(after=made[0])] == made[1:]
    client.evals.update(made[0], name="changed")
    assert [e.id for e in client.evals.list(order_by="updated_at")] == [made[1], made[2], made[0]]
    assert [e.id for e in client.evals.list(order_by="created_at")] == made


# Runs and output items


def test_output_items_are_the_rows_of_the_run_s_file(client: OpenAI) -> None:
    """Each line's ``item`` (or the whole line without one) is an output item, numbered from 0,
    blank lines skipped; every item passes every criterion."""
    eval_id = make_eval(client)
    run_id = file_run(client, eval_id)
    run = client.evals.runs.retrieve(run_id, eval_id=eval_id)
    assert (run.object, run.status, run.eval_id) == ("eval.run", "completed", eval_id)
    assert run.error is None  # the SDK types it as always present; OpenAI answers null
    assert (run.result_counts.total, run.result_counts.passed) == (2, 2)
    [per_criterion] = run.per_testing_criteria_results
    assert per_criterion.testing_criteria.startswith("same-") and per_criterion.passed == 2

    items = list(client.evals.runs.output_items.list(run_id, eval_id=eval_id))
    assert [(i.datasource_item_id, i.datasource_item) for i in items] == [
        (0, {"question": "secret one"}), (1, {"question": "secret two"})]
    assert {(i.object, i.status, i.run_id, i.eval_id) for i in items} == {
        ("eval.run.output_item", "pass", run_id, eval_id)}
    assert [(r.name, r.passed, r.type) for r in items[0].results] == [("same", True, "string-check-grader")]
    assert items[0].sample.model == run.model
    one = client.evals.runs.output_items.retrieve(items[1].id, eval_id=eval_id, run_id=run_id)
    assert one.to_dict() == items[1].to_dict()
    assert list(client.evals.runs.output_items.list(run_id, eval_id=eval_id, status="fail")) == []
    newest = client.evals.runs.output_items.list(run_id, eval_id=eval_id, order="desc", limit=1)
    assert ([i.id for i in newest.data], newest.has_more) == ([items[1].id], True)


def test_inline_rows_and_stored_sources(client: OpenAI) -> None:
    """A ``file_content`` source's rows are its items; a source of stored responses has none."""
    eval_id = make_eval(client)
    inline = client.evals.runs.create(eval_id, data_source={"type": "jsonl", "source": {
        "type": "file_content", "content": [{"item": {"question": "q1"}}, {"item": {"question": "q2"}}]}})
    rows = [i.datasource_item for i in client.evals.runs.output_items.list(inline.id, eval_id=eval_id)]
    assert rows == [{"question": "q1"}, {"question": "q2"}]
    stored = client.evals.runs.create(eval_id, data_source={
        "type": "responses", "model": "gpt-4o", "source": {"type": "responses", "metadata": {}}})
    assert (stored.status, stored.model, stored.result_counts.total) == ("completed", "gpt-4o", 0)
    assert list(client.evals.runs.output_items.list(stored.id, eval_id=eval_id)) == []


def test_a_file_with_a_line_that_is_not_json_fails_the_run(client: OpenAI) -> None:
    """The run is answered ``failed`` with the line named in its error, and has no items."""
    eval_id = make_eval(client)
    data = client.files.create(file=("bad.jsonl", io.BytesIO(b'{"item": {}}\n\nnot json\n')),
                               purpose="evals")
    run = client.evals.runs.create(
        eval_id, data_source={"type": "jsonl", "source": {"type": "file_id", "id": data.id}})
    assert run.status == "failed"
    assert run.error is not None
    assert (run.error.code, run.error.message) == (
        "invalid_data_source", f"Line 3 of {data.id} is not valid JSON.")
    assert list(client.evals.runs.output_items.list(run.id, eval_id=eval_id)) == []


def test_runs_list_cancel_and_delete(client: OpenAI, sandbox: Sandbox) -> None:
    """Runs list oldest first and by ``status``; cancel answers the finished run unchanged (by
    the SDK's path and the spec's); delete answers ``eval.run.deleted``."""
    eval_id = make_eval(client)
    made = [file_run(client, eval_id), file_run(client, eval_id, b"oops\n")]
    runs = client.evals.runs
    assert [r.id for r in runs.list(eval_id)] == made
    assert [r.id for r in runs.list(eval_id, order="desc", limit=1).data] == [made[1]]
    assert [r.id for r in runs.list(eval_id, status="completed")] == [made[0]]
    assert [r.id for r in runs.list(eval_id, status="failed")] == [made[1]]
    assert (runs.cancel(made[0], eval_id=eval_id).id, runs.cancel(made[0], eval_id=eval_id).status) == (
        made[0], "completed")
    spec_cancel = send(sandbox, "POST", f"/v1/evals/{eval_id}/runs/{made[0]}")
    assert (spec_cancel.status, spec_cancel.json()["status"]) == (200, "completed")

    deleted = runs.delete(made[0], eval_id=eval_id)
    assert (deleted.object, deleted.deleted, deleted.run_id) == ("eval.run.deleted", True, made[0])
    assert [r.id for r in runs.list(eval_id)] == [made[1]]
    gone = error(f"Eval run with id '{made[0]}' not found.")
    assert refusal(lambda: runs.retrieve(made[0], eval_id=eval_id)) == (404, gone)
    assert refusal(lambda: runs.output_items.list(made[0], eval_id=eval_id)) == (404, gone)


def test_runs_belong_to_their_eval(client: OpenAI) -> None:
    """An unknown eval is the eval's 404 for every run route; another eval's run is unknown."""
    owner, other = make_eval(client), make_eval(client)
    run_id = file_run(client, owner)
    runs = client.evals.runs
    unknown = (404, error("Eval with id 'eval_nope' not found."))
    assert refusal(lambda: file_run(client, "eval_nope")) == unknown
    assert refusal(lambda: runs.list("eval_nope")) == unknown
    assert refusal(lambda: runs.retrieve(run_id, eval_id="eval_nope")) == unknown
    not_here = (404, error(f"Eval run with id '{run_id}' not found."))
    for step in (lambda: runs.retrieve(run_id, eval_id=other),
                 lambda: runs.cancel(run_id, eval_id=other),
                 lambda: runs.delete(run_id, eval_id=other),
                 lambda: runs.output_items.list(run_id, eval_id=other)):
        assert refusal(step) == not_here
    assert list(runs.list(other)) == []
    assert refusal(lambda: runs.output_items.retrieve("outputitem_nope", eval_id=owner, run_id=run_id)) == (
        404, error("Eval run output item with id 'outputitem_nope' not found."))


def test_deleting_an_eval_takes_its_runs(client: OpenAI) -> None:
    """Once its eval is deleted, a run and its items answer the eval's 404."""
    eval_id = make_eval(client)
    run_id = file_run(client, eval_id)
    client.evals.delete(eval_id)
    unknown = (404, error(f"Eval with id '{eval_id}' not found."))
    assert refusal(lambda: client.evals.runs.retrieve(run_id, eval_id=eval_id)) == unknown
    assert refusal(lambda: client.evals.runs.output_items.list(run_id, eval_id=eval_id)) == unknown


@pytest.mark.parametrize(
    ("body", "message", "param", "code"),
    [
        ({}, "Missing required parameter: 'data_source'.", "data_source", "missing_required_parameter"),
        ({"data_source": []}, "Invalid type for 'data_source': expected an object.", "data_source",
         "invalid_type"),
        ({"data_source": {"type": "csv"}},
         "'csv' is not one of ['jsonl', 'completions', 'responses'] - 'data_source.type'", None, None),
    ],
    ids=["no data source", "not an object", "unknown type"],
)
def test_run_create_refusals(client: OpenAI, sandbox: Sandbox, body: Any, message: str,
                             param: str | None, code: str | None) -> None:
    """A run without a well-formed data source is OpenAI's 400."""
    reply = send(sandbox, "POST", f"/v1/evals/{make_eval(client)}/runs", body)
    assert (reply.status, reply.json()) == (400, {"error": error(message, param, code)})


def test_unknown_file_is_refused_before_the_eval_is_looked_up(sandbox: Sandbox) -> None:
    """File references are checked first: an unknown file is its 404 even under an unknown eval."""
    reply = send(sandbox, "POST", "/v1/evals/eval_nope/runs",
                 {"data_source": {"type": "jsonl", "source": {"type": "file_id", "id": "file-gone"}}})
    assert (reply.status, reply.json()) == (404, {"error": error("No such File object: file-gone", "id")})
