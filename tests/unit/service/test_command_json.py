"""The strict JSON parse of commands (files and bus messages): repeated keys, byte order marks."""

from __future__ import annotations

import pytest

from stockmesh.domain.errors import InvalidInput
from stockmesh.service.bulk.command_file import loads_command_json, parse_lines, split_lines
from stockmesh.service.inbox import decode_commands

LINE = b'{"command": "ShipStock", "idempotency_key": "k", "sku": "A", "site": "S", "qty": 3}'


@pytest.mark.parametrize(("text", "path"), [
    (b'{"a": 1, "a": 2}', "a"),
    (b'{"a" : 1, "b": 2, "a" : 3}', "a"),
    (b'{"a":\t1,\t"a"\t:2}', "a"),
    (b'{"a":1,"a"\n:2}', "a"),  # white space before the colon is a new line
    (b'{"x": "\\": ", "a": 1, "a": 1}', "a"),  # same value twice is still twice
    (b'{"lines": [{"sku": "A", "sku": "B"}]}', "lines[0].sku"),  # nested: named by its path
    (b'[{"a": 1}, {"b": 1, "b": 2}]', "[1].b"),
    (b'{"a": {"b": [1, {"c": 1}], "b": 2}}', "a.b"),
])
def test_a_repeated_key_is_named_by_its_path(text: bytes, path: str) -> None:
    with pytest.raises(InvalidInput, match="appears more than once") as caught:
        loads_command_json(text)
    assert caught.value.field == path


@pytest.mark.parametrize("text", [
    LINE,
    b'{"a": "x\\": y", "b": 1}',  # a key-like text inside a string
    b'{"a" : 1, "b" : {"a": 2}}',  # the same name in two objects
    b'[{"a": 1}, {"a": 1}]',
    b'"just a string"',
])
def test_distinct_keys_parse_as_orjson_does(text: bytes) -> None:
    import orjson

    assert loads_command_json(text) == orjson.loads(text)


def test_deep_nesting_is_malformed_not_a_crash() -> None:
    """orjson parses up to 1,024 levels, Python's json (the repeated-key check) fewer."""
    raw = b'{"a": ' + b"[" * 1000 + b"]" * 1000 + b', "b": "x\\": y"}'
    with pytest.raises(InvalidInput, match="nested too deeply"):
        loads_command_json(raw)
    commands, _, _, errors = parse_lines(raw + b"\n" + LINE)
    assert len(commands) == 1 and [e.line for e in errors] == [1]


def test_malformed_json_has_no_field() -> None:
    with pytest.raises(InvalidInput, match="malformed JSON") as caught:
        loads_command_json(b'{"a": NaN}')
    assert caught.value.field is None


def test_byte_order_mark_only_at_the_start_of_a_file() -> None:
    assert split_lines(b"\xef\xbb\xbf" + LINE + b"\n") == [LINE, b""]
    commands, _, lines, errors = parse_lines(b"\xef\xbb\xbf" + LINE + b"\r\n\r\n\xef\xbb\xbf" + LINE)
    assert len(commands) == 1 and lines == [1]
    assert [e.line for e in errors] == [3]


def test_bus_message_with_a_repeated_key_is_rejected_naming_it() -> None:
    with pytest.raises(InvalidInput) as caught:
        decode_commands(b'{"commands": [{"command": "ShipStock", "qty": 1, "qty": 9}]}')
    assert caught.value.field == "commands[0].qty"
    with pytest.raises(InvalidInput, match="message is not JSON") as not_json:
        decode_commands(b"{oops")
    assert not_json.value.field == "payload"
    assert decode_commands(LINE)[0]["qty"] == 3
