"""Which form fields name a file or an object by id (pure: a name and value in, refs out)."""

from __future__ import annotations

import pytest

from gateway.form_refs import TextField, field_refs, inline_in_fields

HOLDERS = frozenset({"video"})


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("input_reference[file_id]", [("input_reference.file_id", True)]),
        ("mask[file_id]", [("mask.file_id", True)]),
        ("images[0][file_id]", [("images[0].file_id", True)]),
        ("file_ids[]", [("file_ids", True)]),
        ("file_ids[2]", [("file_ids[2]", True)]),
        ("file_id", [("file_id", True)]),
        ("training_file", [("training_file", True)]),
        ("video[id]", [("video.id", False)]),  # a holder: no purpose to check
        ("container[id]", []),  # not a holder this form names
        ("video[idx]", []),
        ("a[b][id]", []),
        ("prompt", []),
        ("image[]", []),
        ("[file_id]", [("file_id", True)]),
        ("", []),
    ],
)
def test_field_refs(name: str, expected: list[tuple[str, bool]]) -> None:
    refs = field_refs(TextField.of(name, "file-x"), "videos", HOLDERS)
    assert [(ref.path, ref.check_purpose) for ref in refs] == expected
    assert all(ref.file_id == "file-x" and ref.api == "videos" for ref in refs)


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("session", '{"tools": [{"container": {"file_ids": ["file-a"]}}]}',
         [("session.tools[0].container.file_ids[0]", "file-a")]),
        ("session", ' \n{"input_file": {"file_id": "file-b"}}', [("session.input_file.file_id", "file-b")]),
        ("items", '[{"file_id": "file-c"}]', [("items[0].file_id", "file-c")]),
        ("session", '{"vector_store_ids": ["vs_1"]}', [("session.vector_store_ids[0]", "vs_1")]),
        ("session", '{"metadata": {"file_id": "file-d"}}', []),  # labels name nothing
        ("session", '{"file_id": "file-e"', []),  # not JSON: the upstream cannot read it either
        # JSON a lenient upstream reads (Python's json takes NaN; orjson, used before, did not).
        ("session", '{"file_ids": ["file-h"], "temperature": NaN}', [("session.file_ids[0]", "file-h")]),
        ("prompt", "[draft] describe file-f", []),
        ("prompt", '"file-g"', []),
    ],
)
def test_json_held_in_a_field_names_files_as_a_body_does(
    name: str, value: str, expected: list[tuple[str, str]]
) -> None:
    refs = field_refs(TextField.of(name, value), "other", HOLDERS, check_purpose=False)
    assert [(ref.path, ref.file_id) for ref in refs] == expected


def test_inline_files_in_the_json_fields_hold() -> None:
    fields = [TextField.of("model", "gpt-realtime"), TextField.of("prompt", "[draft] file_data"),
              TextField.of("session",
                           '{"input": [{"type": "input_file", "file_data": "data:;base64,AA"}]}',
                           "application/json"),
              TextField.of("items", '[{"file_url": "https://example.com/a.pdf"}]')]
    assert inline_in_fields(fields) == ["session.input[0].file_data", "items[0].file_url"]
