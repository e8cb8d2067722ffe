"""YAML seed files read safely: each seed in a file (one a document, or a list of them) as (line, value, node).

PyYAML's SafeLoader alone lets a few hundred bytes expand to billions of values through aliases, recurses once per
level of nesting, keeps the last of two equal keys silently and hands a lone surrogate escape through. Here the
composer and scanner stop at `MAX_DEPTH` levels, and each seed's node tree is checked before anything is built
from it: at most `MAX_NODES` values with aliases followed, plain YAML tags only, each key once, text only. Every
problem is a located `InputError`. What a seed must contain is `pipeline.seeds`' business.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pipeline.errors import InputError, InputWarning, Location
from pipeline.jsonl import BOM, open_regular
from pipeline.jsonvalue import MAX_DEPTH, encodable, field_name, printable

MAX_YAML_BYTES = 16 * 1024 * 1024
MAX_NODES = 100_000  # values one seed may expand to, aliases followed: bounds a billion-laughs file
YAML_TAG = "tag:yaml.org,2002:"
PLAIN_TAGS = {
    YAML_TAG + t
    for t in (
        "str",
        "int",
        "float",
        "bool",
        "null",
        "map",
        "seq",
        "merge",
        "timestamp",
        "binary",
        "set",
        "omap",
        "pairs",
        "value",
    )
}


def _seed_loader() -> Any:
    """SafeLoader that refuses nesting deeper than `MAX_DEPTH`: its composer recurses once per level (5,000 levels
    end in RecursionError), and its scanner looks ahead through a whole flow collection at a cost that grows with
    the depth at every token (5,000 `[` take over a second)."""
    import yaml

    class SeedLoader(yaml.SafeLoader):
        depth = 0

        def fetch_flow_collection_start(self, TokenClass: Any) -> None:
            if self.flow_level >= MAX_DEPTH:
                raise yaml.scanner.ScannerError(None, None, f"nested deeper than {MAX_DEPTH} levels", self.get_mark())
            super().fetch_flow_collection_start(TokenClass)

        def compose_node(self, parent: Any, index: Any) -> Any:
            self.depth += 1
            try:
                if self.depth > MAX_DEPTH:
                    raise yaml.composer.ComposerError(
                        None, None, f"nested deeper than {MAX_DEPTH} levels", self.peek_event().start_mark
                    )
                return super().compose_node(parent, index)
            finally:
                self.depth -= 1

    return SeedLoader


def _tree_problem(root: Any) -> tuple[str, Any, tuple[Any, ...]] | None:
    """What makes a seed's node tree unsafe to construct, as (message, node, path): more than `MAX_NODES` values
    once aliases are followed (a cycle never ends), nesting past `MAX_DEPTH`, a tag beyond YAML's plain types
    (`!!python/...`), a key given twice (PyYAML would keep the last silently) or a lone surrogate escape.
    The walk stops at the first, so a bomb costs `MAX_NODES` steps, not its expansion."""
    import yaml

    stack: list[tuple[Any, tuple[Any, ...]]] = [(root, ())]
    seen = 0
    while stack:
        node, path = stack.pop()
        seen += 1
        if seen > MAX_NODES:
            return f"expands to more than {MAX_NODES:,} values (aliases repeated inside aliases?)", root, ()
        if len(path) > MAX_DEPTH:
            return f"nested deeper than {MAX_DEPTH} levels (an alias inside itself?)", node, path[:3]
        if node.tag not in PLAIN_TAGS:
            return f"tag {node.tag.replace(YAML_TAG, '!!')} is not allowed; seeds hold plain data only", node, path
        if isinstance(node, yaml.ScalarNode):
            if not encodable(node.value):
                return "holds a lone surrogate escape (such as \\ud800), which is not text", node, path
        elif isinstance(node, yaml.SequenceNode):
            stack += [(item, (*path, i)) for i, item in reversed(list(enumerate(node.value)))]
        else:
            keys: set[str] = set()
            for key, _ in node.value:  # in file order, so the second of two is the one named
                if isinstance(key, yaml.ScalarNode) and key.tag != YAML_TAG + "merge":
                    if key.value in keys:
                        return (
                            f"duplicate key {printable(repr(key.value))}; a key may appear once",
                            key,
                            (*path, key.value),
                        )
                    keys.add(key.value)
            for key, value in reversed(node.value):
                name = key.value if isinstance(key, yaml.ScalarNode) else "?"
                stack += [(value, (*path, name)), (key, path)]
    return None


def yaml_entries(path: Path, shown: str, errors: list[InputError]) -> Iterator[tuple[int, Any, Any]]:
    """(line, value, node) for each seed in a YAML file; the node lets errors point at the field's own line."""
    import yaml

    with open_regular(path, shown) as handle:
        raw = handle.read(MAX_YAML_BYTES + 1)
    if len(raw) > MAX_YAML_BYTES:
        errors.append(InputError(f"larger than {MAX_YAML_BYTES // 2**20} MB; split it, or use JSONL", Location(shown)))
        return
    if raw.startswith(BOM):
        warnings.warn(
            InputWarning("file starts with a byte-order mark (read as UTF-8 without it)", Location(shown)), stacklevel=2
        )
        raw = raw[len(BOM) :]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        errors.append(InputError(f"not valid UTF-8 (byte 0x{raw[exc.start]:02x})", Location(shown, line)))
        return
    try:
        documents = list(yaml.compose_all(text, Loader=_seed_loader()))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        errors.append(InputError(f"invalid YAML: {problem}", Location(shown, mark.line + 1 if mark else None)))
        return
    constructor = yaml.SafeLoader("")
    for node in documents:
        if node is None:
            continue
        items = node.value if isinstance(node, yaml.SequenceNode) else [node]
        for item in items:
            line = item.start_mark.line + 1
            problem = _tree_problem(item)
            if problem is not None:
                message, at, field_path = problem
                errors.append(
                    InputError(message, Location(shown, at.start_mark.line + 1, field_name(field_path) or None))
                )
                continue
            try:
                value = constructor.construct_document(item)
            except (yaml.YAMLError, ValueError, TypeError, OverflowError) as exc:
                # A timestamp like 2024-13-01, an unhashable key, a merge of a non-mapping: PyYAML's own words.
                detail = getattr(exc, "problem", None) or str(exc)
                errors.append(InputError(f"invalid YAML value: {printable(detail)}", Location(shown, line)))
                continue
            yield line, value, item


def node_line(node: Any, field_path: str, default: int) -> int:
    """The line of `messages[2].role` inside a YAML node, as far down as the path can be followed."""
    import yaml

    line = default
    for key, index in re.findall(r"([^.\[\]]+)|\[(\d+)\]", field_path):
        if isinstance(node, yaml.MappingNode) and key:
            match = next((v for k, v in node.value if k.value == key), None)
            if match is None:
                key_node = next((k for k, _ in node.value if k.value == key), None)
                return key_node.start_mark.line + 1 if key_node else line
            node = match
        elif isinstance(node, yaml.SequenceNode) and index and int(index) < len(node.value):
            node = node.value[int(index)]
        else:
            break
        line = node.start_mark.line + 1
    return line
