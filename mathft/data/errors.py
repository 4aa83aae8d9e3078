"""Data errors that say where the bad input is and what to do about it.

Every reader in :mod:`mathft.data` turns malformed input (missing field, truncated JSON
line, wrong type, empty file, unreadable parquet) into a :class:`DataError` naming the
file, the line (or parquet row) and the field, instead of a ``KeyError`` or
``JSONDecodeError`` raised from deep inside a loop.
"""

from __future__ import annotations

import os
from typing import Any


class DataError(ValueError):
    """Malformed data file: ``str(err)`` reads ``file:line: field 'f': message. hint``."""

    def __init__(
        self,
        message: str,
        *,
        file: str | os.PathLike[str] | None = None,
        line: int | None = None,
        field: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.file = None if file is None else str(file)
        self.line = line
        self.field = field
        self.message = message
        self.hint = hint
        super().__init__(self._render())

    def _render(self) -> str:
        where = self.file or "<data>"
        if self.line is not None:
            where += f":{self.line}"
        text = f"{where}: "
        if self.field is not None:
            text += f"field '{self.field}': "
        text += self.message
        if self.hint:
            text += f". {self.hint}"
        return text


_TYPE_NAMES = {str: "string", int: "integer", float: "number", bool: "boolean", list: "list",
               dict: "object", type(None): "null"}


def type_name(value: Any) -> str:
    """Human name of a JSON value's type, for error messages."""
    return _TYPE_NAMES.get(type(value), type(value).__name__)


def require(
    row: Any,
    key: str,
    types: type | tuple[type, ...],
    *,
    file: str | os.PathLike[str],
    line: int | None,
    field: str | None = None,
    optional: bool = False,
) -> Any:
    """Return ``row[key]`` checked against ``types``; raise :class:`DataError` otherwise.

    ``field`` is the dotted path shown to the user (defaults to ``key``); with ``optional``
    a missing key or ``null`` value returns ``None``.
    """
    path = field or key
    if not isinstance(row, dict):
        raise DataError(
            f"expected a JSON object, got {type_name(row)}",
            file=file, line=line, field=path.rsplit(".", 1)[0] if "." in path else None,
            hint="each record must be an object with named fields",
        )
    if key not in row or row[key] is None:
        if optional:
            return None
        what = "missing" if key not in row else "null"
        raise DataError(
            f"{what} required field", file=file, line=line, field=path,
            hint=f"add '{key}' to this record or fix the file's schema",
        )
    value = row[key]
    allowed = types if isinstance(types, tuple) else (types,)
    # bool is an int subclass: only accept it where bool is explicitly allowed
    ok = isinstance(value, allowed) and not (
        isinstance(value, bool) and bool not in allowed
    )
    if not ok:
        want = " or ".join(_TYPE_NAMES.get(t, t.__name__) for t in allowed)
        raise DataError(
            f"expected {want}, got {type_name(value)} ({str(value)[:40]!r})",
            file=file, line=line, field=path, hint="fix the value's type in the file",
        )
    return value
