"""A fine-tuned model was trained from its job's files, so it is the job's creator's, with the
job's restrictions: naming it in any body is a reference, and retrieving, deleting and listing
it follow the file rules. Official SDK over real HTTP against the sandbox.

alice and bob share org acme; carol is in globex.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import openai
import pytest

from tests.conftest import Gateway, GatewayFactory, Sandbox
from tests.http import call
from tests.sdk import refusal, refused
from tests.test_backfill import backfill, backfill_config

NOT_FOUND = (404, "file_not_found")
TRAINING = b'{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}\n'


def train(gateway: Gateway, who: str, access: str | None = None) -> str:
    client = gateway.client(who)
    training = client.files.create(
        file=("t.jsonl", io.BytesIO(TRAINING)), purpose="fine-tune",
        extra_headers={"X-File-Access": access} if access else {})
    job = client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=training.id)
    model = client.fine_tuning.jobs.retrieve(job.id).fine_tuned_model
    assert model is not None and model.startswith("ft:")
    return model


def ask(gateway: Gateway, who: str, model: str) -> tuple[int, str | None, str | None]:
    return refusal(lambda: gateway.client(who).responses.create(model=model, input="hi"))


def test_a_fine_tuned_model_is_its_org_s(gateway: Gateway) -> None:
    model = train(gateway, "alice")
    bob, carol = gateway.client("bob"), gateway.client("carol")

    assert bob.responses.create(model=model, input="hi").model == model
    assert bob.models.retrieve(model).id == model
    assert model in [m.id for m in bob.models.list()]
    assert "gpt-4o" in [m.id for m in carol.models.list()]
    assert model not in [m.id for m in carol.models.list()]

    gateway.sandbox.clear()
    assert ask(gateway, "carol", model) == (*NOT_FOUND, "model")
    assert refused(lambda: carol.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "hi"}])) == NOT_FOUND
    assert refused(lambda: carol.models.retrieve(model)) == NOT_FOUND
    assert refused(lambda: carol.models.delete(model)) == NOT_FOUND
    assert gateway.sandbox.requests() == []

    assert bob.models.delete(model).deleted
    assert refused(lambda: bob.models.retrieve(model)) == NOT_FOUND


def test_a_model_trained_on_a_private_file_is_its_owner_s(sqlite_gateway: Gateway) -> None:
    model = train(sqlite_gateway, "alice", "private_only")
    assert sqlite_gateway.client("alice").responses.create(model=model, input="hi").model == model
    sqlite_gateway.sandbox.clear()
    assert ask(sqlite_gateway, "bob", model) == (403, "private_only_forbidden", "model")
    assert refused(lambda: sqlite_gateway.client("bob").models.retrieve(model)) == (
        403, "private_only_forbidden")
    assert model not in [m.id for m in sqlite_gateway.client("bob").models.list()]
    # Only the list went up; the refusals were decided at the gateway.
    assert [entry["path"] for entry in sqlite_gateway.sandbox.requests()] == ["/v1/models"]


@pytest.mark.parametrize(
    ("path", "body", "param"),
    [
        ("/v1/fine_tuning/jobs", lambda model, file_id: {"model": model, "training_file": file_id},
         "model"),
        ("/v1/evals/{eval}/runs", lambda model, file_id: {"data_source": {
            "type": "responses", "model": model,
            "source": {"type": "file_id", "id": file_id}}}, "data_source.model"),
    ],
    ids=["continued training", "eval run"],
)
def test_another_org_s_model_cannot_be_named_anywhere(
    sqlite_gateway: Gateway, path: str, body: object, param: str
) -> None:
    gateway = sqlite_gateway
    theirs = train(gateway, "carol")
    purpose = "fine-tune" if "fine_tuning" in path else "evals"
    mine = gateway.client("alice").files.create(file=("d.jsonl", io.BytesIO(TRAINING)),
                                                purpose=purpose).id  # type: ignore[arg-type]
    made = gateway.client("alice").evals.create(
        name="e", testing_criteria=[],
        data_source_config={"type": "custom", "item_schema": {"type": "object"}}).id
    gateway.sandbox.clear()
    reply = call(gateway.url, "POST", path.format(eval=made),
                 {"Authorization": "Bearer sk-alice", "Content-Type": "application/json"},
                 json.dumps(body(theirs, mine)).encode())  # type: ignore[operator]
    assert (reply.status, reply.code) == NOT_FOUND, reply.body
    assert reply.json()["error"]["param"] == param
    assert gateway.sandbox.requests() == []


def test_a_batch_naming_another_org_s_model_is_refused(sqlite_gateway: Gateway) -> None:
    gateway = sqlite_gateway
    theirs = train(gateway, "carol")
    line = {"custom_id": "1", "method": "POST", "url": "/v1/responses",
            "body": {"model": theirs, "input": "hi"}}
    alice = gateway.client("alice")
    batch_input = alice.files.create(file=("b.jsonl", io.BytesIO(json.dumps(line).encode() + b"\n")),
                                     purpose="batch")
    assert refusal(lambda: alice.batches.create(
        input_file_id=batch_input.id, endpoint="/v1/responses", completion_window="24h")) == (
        *NOT_FOUND, "input_file_id.lines[1].body.model")


def test_models_trained_before_the_gateway_are_adopted(
    sandbox: Sandbox, make_gateway: GatewayFactory, tmp_path: Path
) -> None:
    """An untracked fine-tuned model, or checkpoint, is refused until backfill adopts it."""
    store, config = backfill_config(sandbox, tmp_path)
    direct = openai.OpenAI(api_key="sk-admin", base_url=sandbox.url + "/v1", max_retries=0)
    training = direct.files.create(file=("t.jsonl", TRAINING), purpose="fine-tune")
    job = direct.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=training.id)
    model = str(job.fine_tuned_model)
    [checkpoint] = [c.fine_tuned_model_checkpoint for c in direct.fine_tuning.jobs.checkpoints.list(job.id)]
    direct.close()
    gateway = make_gateway(store=store)
    assert ask(gateway, "bob", model) == (403, "file_untracked", "model")

    code, output = backfill(config, "--objects", "fine_tuning_jobs,fine_tuned_models")
    assert code == 0, output
    assert "backfill done: seen 2, adopted 2, already known 0" in output
    assert gateway.client("bob").responses.create(model=model, input="hi").model == model
    assert gateway.client("bob").fine_tuning.jobs.retrieve(job.id).id == job.id
    assert ask(gateway, "carol", model) == (*NOT_FOUND, "model")

    assert ask(gateway, "bob", checkpoint) == (403, "file_untracked", "model")
    code, output = backfill(config, "--objects", "fine_tuned_checkpoints")
    assert code == 0, output
    assert "backfill done: seen 1, adopted 1, already known 0" in output
    assert gateway.client("bob").responses.create(model=checkpoint, input="hi").model == checkpoint
    assert ask(gateway, "carol", checkpoint) == (*NOT_FOUND, "model")


def test_a_job_s_checkpoints_are_its_models_too(sqlite_gateway: Gateway) -> None:
    """Listing a job's checkpoints records each checkpoint model as the job's: usable and
    shareable by its org, by no one else; sharing one with a project is a change of it."""
    gateway = sqlite_gateway
    alice, bob, carol = (gateway.client(who) for who in ("alice", "bob", "carol"))
    training = alice.files.create(file=("t.jsonl", io.BytesIO(TRAINING)), purpose="fine-tune")
    job = alice.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=training.id)
    [checkpoint] = [c.fine_tuned_model_checkpoint
                    for c in bob.fine_tuning.jobs.checkpoints.list(job.id)]
    assert bob.responses.create(model=checkpoint, input="hi").model == checkpoint
    shared = bob.fine_tuning.checkpoints.permissions.create(checkpoint, project_ids=["proj_a"])
    assert [p.project_id for p in shared] == ["proj_a"]

    gateway.sandbox.clear()
    assert refused(lambda: carol.fine_tuning.jobs.checkpoints.list(job.id)) == NOT_FOUND
    assert ask(gateway, "carol", checkpoint) == (*NOT_FOUND, "model")
    assert refused(lambda: carol.fine_tuning.checkpoints.permissions.create(
        checkpoint, project_ids=["proj_theirs"])) == NOT_FOUND
    assert refused(lambda: carol.fine_tuning.checkpoints.permissions.list(checkpoint)) == NOT_FOUND
    assert refused(lambda: carol.fine_tuning.checkpoints.permissions.delete(
        shared.data[0].id, fine_tuned_model_checkpoint=checkpoint)) == NOT_FOUND
    assert gateway.sandbox.requests() == []
    assert [p.id for p in alice.fine_tuning.checkpoints.permissions.list(checkpoint)] == [
        shared.data[0].id]
