"""Where file ids hide in the request bodies of other APIs. Pure: a body in, references out.

The walk is generic on purpose: any `file_id`, `file_ids`, `input_file_id`, `training_file` or
`validation_file`, and an Evals `source` of type `file_id`, is a reference wherever it sits, so
a new nesting the API grows is still checked (fail closed). Vector stores named in
`vector_store_ids`, skills named by `skill_id`, a code interpreter's `container` id and a
shell tool's `container_reference` are references to holders; so, in an Agents body, are
agents, sessions, environments, templates and vaults. A fine-tuned `model` (`ft:…`) is a
reference to the model, which its job made. A response or conversation continued is a
reference too (`continued_refs`), named only at a Responses body's top level.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from gateway.errors import GatewayError

SINGLE_KEYS = frozenset({"file_id", "input_file_id", "training_file", "validation_file"})
LIST_KEYS = frozenset({"file_ids"})
# Holders referenced by id: the caller must be allowed to use them, but they have no purpose.
HOLDER_LIST_KEYS = frozenset({"vector_store_ids"})
HOLDER_KEYS = frozenset({"skill_id"})
# Agents objects name one another by id. Only in an Agents body do these keys mean that.
AGENT_HOLDER_KEYS = HOLDER_KEYS | {"agent_id", "session_id", "environment_id",
                                   "environment_template_id"}
AGENT_HOLDER_LIST_KEYS = HOLDER_LIST_KEYS | {"vault_ids"}
AGENTS_API = "agents"
RESPONSES_API = "responses"
Holders = tuple[frozenset[str], frozenset[str]]
_HOLDERS: Holders = (HOLDER_KEYS, HOLDER_LIST_KEYS)
_AGENT_HOLDERS: Holders = (AGENT_HOLDER_KEYS, AGENT_HOLDER_LIST_KEYS)
INLINE_KEYS = frozenset({"file_data", "file_url"})
# JSON Schema's maps from a name to a schema: function tools' `parameters`, structured outputs.
SCHEMA_MAPS = frozenset({"properties", "patternProperties", "$defs", "definitions"})
# A fine-tuned model, named in any body's `model`, was made from its training files.
FINE_TUNED_PREFIX = "ft:"
# Tools whose file ids are copied into a container: the containers API's purposes apply.
CONTAINER_TOOLS = frozenset({"code_interpreter", "shell"})


# Text one of which every reference find_refs or continued_refs can find (and every inline file
# find_inline can) has in a body's raw JSON: its key (`file_id`, `training_file`,
# `vector_store_ids`, `skill_id`, `container`, a `source` of type `file_id`, `file_data`,
# `previous_response_id`, `conversation`), a fine-tuned `model`'s `ft:`, or an escape that
# could spell any of them. Agents' own keys are not here: their
# bodies are always parsed.
_UTF8 = ("utf-8", "utf-8-sig")
_MAY_NAME = (b"file", b"vector_store", b"skill_id", b"container", b"ft:", b"previous_response",
             b"conversation", b"\\u")


def may_name(raw: bytes) -> bool:
    """False only for a JSON text that cannot reference anything, which need not be parsed: a
    batch's text-only lines, an embeddings request. The markers are UTF-8; JSON in UTF-16 or
    UTF-32, which the parser (and so perhaps an upstream) reads too, is always parsed."""
    if json.detect_encoding(raw[:4]) not in _UTF8:
        return True
    return any(marker in raw for marker in _MAY_NAME)


@dataclass(frozen=True)
class FileRef:
    path: str
    file_id: str
    api: str
    check_purpose: bool = True


def _not_an_id(path: str) -> GatewayError:
    return GatewayError(400, "invalid_file_id", f"{path} must be a file id string", param=path)


def find_refs(body: Any, api: str, *, check_purpose: bool = True) -> list[FileRef]:
    """`check_purpose=False` for an API the purpose matrix does not know: its references are
    still the caller's to use, but no purpose can be said to fit it."""
    holders = _AGENT_HOLDERS if api == AGENTS_API else _HOLDERS
    return list(_walk(body, "", api, check_purpose, holders))


def continued_refs(body: Any) -> list[FileRef]:
    """A response may continue another (`previous_response_id`) or a conversation: both hold
    what someone said, so naming one is a reference to a holder, as `vector_store_ids` are.
    Only a Responses body's top level means this, whether sent alone or as a batch's line."""
    if not isinstance(body, dict):
        return []
    conversation = body.get("conversation")
    if isinstance(conversation, dict):
        conversation = conversation.get("id")
    named = (("previous_response_id", body.get("previous_response_id")),
             ("conversation", conversation))
    return [FileRef(path, value, RESPONSES_API, check_purpose=False)
            for path, value in named if isinstance(value, str)]


def find_inline(body: Any) -> list[str]:
    """Paths of inline file inputs (`file_data`, `file_url`), for `inline_files: deny`."""
    found: list[str] = []
    stack: list[tuple[Any, str]] = [(body, "")]
    while stack:
        node, path = stack.pop()
        if isinstance(node, dict):
            for key, value in node.items():
                if key in SCHEMA_MAPS and isinstance(value, dict):
                    # Property names, not inputs: only the schemas under them are walked.
                    stack.extend((schema, _join(_join(path, key), name))
                                 for name, schema in value.items() if isinstance(schema, dict | list))
                    continue
                if key in INLINE_KEYS and value is not None:
                    found.append(_join(path, key))
                if isinstance(value, dict | list) and not (key == "metadata" and _is_metadata(value)):
                    stack.append((value, _join(path, key)))
        elif isinstance(node, list):
            stack.extend((value, f"{path}[{index}]") for index, value in enumerate(node)
                         if isinstance(value, dict | list))
    return sorted(found)


def _walk(node: Any, path: str, api: str, check_purpose: bool, holders: Holders) -> Iterator[FileRef]:
    if isinstance(node, list):
        for index, value in enumerate(node):
            # Only an object names anything: a list's strings and numbers are skipped unwalked
            # (a request's text is most of its body).
            if isinstance(value, dict | list):
                yield from _walk(value, f"{path}[{index}]", api, check_purpose, holders)
        return
    if not isinstance(node, dict):
        return
    kind = node.get("type")
    # Any JSON may stand where a type should: only a string can name a tool.
    if isinstance(kind, str) and kind in CONTAINER_TOOLS and api == "responses":
        api = "containers"
    container = node.get("container")
    if kind == "code_interpreter" and isinstance(container, str):
        yield FileRef(_join(path, "container"), container, api, check_purpose=False)
    elif kind == "container_reference":
        # The shell tool's `environment`: an existing container, the caller's to use.
        yield _single(node.get("container_id"), _join(path, "container_id"), api, False)
    source = node.get("source")
    if isinstance(source, dict) and source.get("type") == "file_id":
        yield _single(source.get("id"), f"{_join(path, 'source')}.id", api, check_purpose)
    holder_keys, holder_list_keys = holders
    for key, value in node.items():
        child = _join(path, key)
        if key == "metadata" and _is_metadata(value):
            continue
        if key in SCHEMA_MAPS and isinstance(value, dict):
            # A JSON Schema's property names (a function tool's `file_id` parameter) name
            # nothing; the schemas under them are walked as any object is.
            for name, schema in value.items():
                if isinstance(schema, dict | list):
                    yield from _walk(schema, _join(child, name), api, check_purpose, holders)
            continue
        if key == "model" and isinstance(value, str) and value.startswith(FINE_TUNED_PREFIX):
            yield FileRef(child, value, api, check_purpose=False)
        elif key in SINGLE_KEYS or key in holder_keys:
            if value is not None:
                yield _single(value, child, api, check_purpose and key in SINGLE_KEYS)
        elif key in LIST_KEYS or key in holder_list_keys:
            if value is None:
                continue
            if not isinstance(value, list):
                raise _not_an_id(child)
            for index, item in enumerate(value):
                yield _single(item, f"{child}[{index}]", api, check_purpose and key in LIST_KEYS)
        elif isinstance(value, dict | list):
            # Citations in earlier turns name files the caller must still be allowed to use,
            # but their purpose was the upstream's choice, not this API's input.
            yield from _walk(value, child, api, check_purpose and key != "annotations", holders)


def _is_metadata(value: Any) -> bool:
    """OpenAI's `metadata`: the caller's own labels, a flat map of strings the upstream never
    resolves, so `{"file_id": "file-…"}` there names nothing. Anything nested is walked."""
    return isinstance(value, dict) and all(
        isinstance(item, str) or item is None for item in value.values())


def _single(value: Any, path: str, api: str, check_purpose: bool) -> FileRef:
    if not isinstance(value, str):
        raise _not_an_id(path)
    return FileRef(path, value, api, check_purpose)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key
