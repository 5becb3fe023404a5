"""One bounded, strict YAML loader for every study file (study.yaml, codebook, hypotheses).

A study's YAML files are written by hand and arrive from collaborators, so the loader refuses what
a hand-written configuration never needs and a hostile or sloppy file can abuse:

- **aliases and anchors** (``&a`` / ``*a``): an "alias bomb" (billion laughs) expands a few lines
  into gigabytes; a study file can always spell its values out;
- **duplicated keys**: YAML keeps the last one silently, so a second ``files:`` replaced the first;
- **files above a size cap** (:data:`MAX_BYTES`, 5 MB; real study files are a few kB);
- **nesting deeper than** :data:`MAX_DEPTH` levels (the parser would otherwise recurse until
  ``RecursionError``);
- **text that is not UTF-8**.

Each refusal is one :class:`~svcresearch._validation.InputError` line naming the file, the line
and what was expected.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from svcresearch._validation import InputError

__all__ = ["MAX_BYTES", "MAX_DEPTH", "load_yaml"]

#: Largest study YAML file accepted, in bytes.
MAX_BYTES = 5 * 1024 * 1024
#: Deepest nesting of mappings/sequences accepted.
MAX_DEPTH = 64


class _Refused(Exception):
    """A construct the loader refuses; carries the 1-based line."""

    def __init__(self, line: int, message: str):
        super().__init__(message)
        self.line = line
        self.message = message


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader without aliases/anchors, duplicated keys or deep nesting."""

    _depth = 0

    def compose_node(self, parent, index):
        event = self.peek_event()
        line = event.start_mark.line + 1
        if isinstance(event, yaml.AliasEvent):
            raise _Refused(line, f"YAML alias '*{event.anchor}' is not allowed; expected the value written "
                                 "out (aliases can expand without bound).")
        if getattr(event, "anchor", None) is not None:
            raise _Refused(line, f"YAML anchor '&{event.anchor}' is not allowed; expected plain values "
                                 "without anchors or aliases.")
        nested = isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent))
        if nested:
            self._depth += 1
            if self._depth > MAX_DEPTH:
                raise _Refused(line, f"nested more than {MAX_DEPTH} levels deep; expected a flat "
                                     "configuration.")
        try:
            return super().compose_node(parent, index)
        finally:
            if nested:
                self._depth -= 1

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, int] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    first = seen.get(key)
                except TypeError:  # an unhashable key: let PyYAML report it
                    continue
                line = key_node.start_mark.line + 1
                if first is not None:
                    raise _Refused(line, f"duplicated key {key!r} (first at line {first}); expected each "
                                         "key once in a mapping.")
                seen[key] = line
        return super().construct_mapping(node, deep=deep)


class _StrictStringLoader(_StrictLoader):
    """:class:`_StrictLoader` that keeps ``yes``/``no``/``on``/``off``/``true`` as written."""


_StrictStringLoader.yaml_implicit_resolvers = {
    key: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for key, resolvers in _StrictLoader.yaml_implicit_resolvers.items()
}


def load_yaml(path: str | Path, *, what: str, booleans: bool = True) -> Any:
    """Read one study YAML file strictly and boundedly.

    Parameters
    ----------
    path : str or Path
        The file.
    what : str
        What the file is, for messages (e.g. ``"study.yaml"``, ``"codebook"``, ``"hypotheses file"``).
    booleans : bool, default True
        ``False`` keeps unquoted ``yes``/``no``/``true``/``off`` as strings (a codebook's level names).

    Returns
    -------
    object
        The parsed document (``None`` for an empty file).

    Raises
    ------
    InputError
        One line naming the file (and the line where it applies) when the file is missing, larger
        than :data:`MAX_BYTES`, not UTF-8, not valid YAML, uses an alias or anchor, repeats a key
        in one mapping, or nests deeper than :data:`MAX_DEPTH`.

    Notes
    -----
    Validated by ``tests/test_hostile_inputs.py`` (an alias bomb, an anchor, a duplicated
    ``files:`` key, a file above the cap, cp1252 bytes, deep nesting, a Python tag).
    """
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError:
        raise InputError(f"{what} not found; expected a YAML file.", file=path) from None
    if not path.is_file():
        raise InputError(f"{what} is not a file; expected a YAML file.", file=path)
    if size > MAX_BYTES:
        raise InputError(f"{what} is {size / 1e6:.1f} MB; expected a YAML file of at most "
                         f"{MAX_BYTES // (1024 * 1024)} MB.", file=path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read {what} ({exc.strerror}).", file=path) from None
    data = data[:MAX_BYTES + 1]  # the file may have grown since stat
    if len(data) > MAX_BYTES:
        raise InputError(f"{what} is larger than {MAX_BYTES // (1024 * 1024)} MB; expected a small "
                         "YAML file.", file=path)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise InputError(f"line {line}: byte 0x{data[exc.start]:02x} is not UTF-8; expected {what} "
                         "saved as UTF-8.", file=path) from None
    text = text.removeprefix("\ufeff")
    loader_cls = _StrictLoader if booleans else _StrictStringLoader
    loader = loader_cls(text)
    try:
        return loader.get_single_data()
    except _Refused as exc:
        raise InputError(f"line {exc.line}: {exc.message}", file=path) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}: " if mark is not None else ""
        problem = " ".join(str(exc.problem or exc.context or "syntax error").split())
        raise InputError(f"{where}not valid YAML ({problem}); expected a valid {what}.", file=path) from None
    except yaml.YAMLError as exc:
        first = (str(exc).strip().splitlines() or ["syntax error"])[0]
        raise InputError(f"not valid YAML ({first}); expected a valid {what}.", file=path) from None
    except RecursionError:
        raise InputError(f"nested too deeply; expected a flat {what}.", file=path) from None
    finally:
        loader.dispose()
