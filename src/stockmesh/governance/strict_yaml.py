"""The one strict YAML loader: policy documents, scenarios, EPCIS mapping tables.

PyYAML's safe loader keeps the last of repeated keys (``version: 1`` then ``version: 2`` reads 2),
recurses once per level of nesting (``RecursionError`` at a few hundred), hands a 5,000-digit
number to ``int()`` (``ValueError``) and expands aliases without bound. This one refuses each with
an ``InvalidInput`` naming the line: a key given twice in one mapping (a ``<<`` merge may still be
overridden), nesting deeper than ``MAX_DEPTH``, a number longer than ``MAX_NUMBER_CHARS``, aliases
that expand past ``MAX_NODES`` nodes or into themselves. Bytes must be UTF-8.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.events import AliasEvent
from yaml.nodes import MappingNode, Node, SequenceNode

from stockmesh.domain.errors import InvalidInput
from stockmesh.domain.inputs import MAX_DEPTH, MAX_NUMBER_CHARS, decode_utf8

MAX_NODES = 1_000_000
_MERGE = "tag:yaml.org,2002:merge"


class _Refused(yaml.YAMLError):
    def __init__(self, message: str, mark: Any, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = mark.line + 1 if mark is not None else None
        self.field = field


class _StrictLoader(yaml.SafeLoader):
    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.depth = 0
        self.sizes: dict[int, int] = {}  # id(node) -> nodes it stands for, aliases expanded

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        if self.check_event(AliasEvent):
            node = super().compose_node(parent, index)
            if node is not None and id(node) not in self.sizes:  # still being composed: it contains itself
                raise _Refused("an alias refers to a node that contains it", node.start_mark)
            return node
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
                raise _Refused(f"nested too deeply (more than {MAX_DEPTH} levels)", mark)
            node = super().compose_node(parent, index)
        finally:
            self.depth -= 1
        if isinstance(node, SequenceNode):
            size = 1 + sum(self.sizes[id(child)] for child in node.value)
        elif isinstance(node, MappingNode):
            size = 1 + sum(self.sizes[id(key)] + self.sizes[id(value)] for key, value in node.value)
        else:
            size = 1
        if size > MAX_NODES:  # only aliases make a document this large: each use counts in full
            raise _Refused(f"aliases expand to more than {MAX_NODES:,} nodes", node.start_mark if node else None)
        self.sizes[id(node)] = size
        return node

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, MappingNode):
            seen: set[Any] = set()
            for key_node, _ in node.value:
                if key_node.tag == _MERGE:
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    repeated = key in seen
                except TypeError:  # an unhashable key: the base constructor refuses it
                    continue
                if repeated:
                    raise _Refused("appears more than once in one mapping", key_node.start_mark, str(key)[:60])
                seen.add(key)
        return super().construct_mapping(node, deep)


def _bounded_number(tag: str) -> None:
    construct = _StrictLoader.yaml_constructors[tag]

    def checked(loader: _StrictLoader, node: Node) -> Any:
        if len(str(node.value)) > MAX_NUMBER_CHARS:
            raise _Refused(f"is a number of {len(str(node.value))} characters (at most {MAX_NUMBER_CHARS} are read)",
                           node.start_mark)
        return construct(loader, node)

    _StrictLoader.add_constructor(tag, checked)


_bounded_number("tag:yaml.org,2002:int")
_bounded_number("tag:yaml.org,2002:float")


def _checked_timestamp(loader: _StrictLoader, node: Node) -> Any:
    try:  # 2024-13-45 matches the timestamp pattern, and datetime refuses it with ValueError
        return yaml.SafeLoader.construct_yaml_timestamp(loader, node)  # type: ignore[arg-type]
    except ValueError as exc:
        raise _Refused(f"not a valid date: {node.value!r} ({exc})"[:120], node.start_mark) from None


_StrictLoader.add_constructor("tag:yaml.org,2002:timestamp", _checked_timestamp)


def load_yaml(source: str | bytes) -> Any:
    """Parse one YAML document strictly (see the module docstring). Raises ``InvalidInput`` with
    the line (and the key, for a repeated one)."""
    text = decode_utf8(source) if isinstance(source, bytes) else source
    loader: _StrictLoader | None = None
    try:
        loader = _StrictLoader(text)  # the reader refuses control characters here already
        return loader.get_single_data()
    except _Refused as exc:
        raise InvalidInput(exc.message, field=exc.field, line=exc.line) from None
    except yaml.reader.ReaderError as exc:  # a control character (no mark: a position in the text)
        raise InvalidInput(f"not valid YAML: character #x{exc.character:04x} is not allowed",
                           line=text.count("\n", 0, exc.position) + 1) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        raise InvalidInput(f"not valid YAML: {problem}"[:300], line=mark.line + 1 if mark else None) from None
    finally:
        if loader is not None:
            loader.dispose()
