"""Values of the GDScript model in tests/gdscript_subset.py: Godot's int wrapping, packed
arrays, objects, Callables and signals, typeof, and the methods of String, Array and
Dictionary that the add-on calls."""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from lark import Tree

if TYPE_CHECKING:
    from tests.gdscript_subset import Script

__all__ = [
    "TYPES",
    "TYPE_NAMES",
    "ClassDef",
    "GDCallable",
    "GDScriptError",
    "GDSignal",
    "Instance",
    "PackedByteArray",
    "PackedStringArray",
    "container_method",
    "default_of",
    "string_method",
    "typeof",
    "wrap",
]

INT_MAX = 2**63 - 1
TYPES = {
    "TYPE_NIL": 0,
    "TYPE_BOOL": 1,
    "TYPE_INT": 2,
    "TYPE_FLOAT": 3,
    "TYPE_STRING": 4,
    "TYPE_STRING_NAME": 21,
    "TYPE_OBJECT": 24,
    "TYPE_DICTIONARY": 27,
    "TYPE_ARRAY": 28,
    "TYPE_PACKED_BYTE_ARRAY": 29,
    "TYPE_PACKED_INT32_ARRAY": 30,
    "TYPE_PACKED_INT64_ARRAY": 31,
    "TYPE_PACKED_FLOAT32_ARRAY": 32,
    "TYPE_PACKED_FLOAT64_ARRAY": 33,
    "TYPE_PACKED_STRING_ARRAY": 34,
}
TYPE_NAMES = {
    0: "Nil",
    1: "bool",
    2: "int",
    3: "float",
    4: "String",
    24: "Object",
    27: "Dictionary",
    28: "Array",
    29: "PackedByteArray",
}


class GDScriptError(Exception):
    """What Godot would report as a script error at run time."""


def wrap(value: int) -> int:
    """Godot's int: signed 64-bit, wrapping."""
    value &= 0xFFFFFFFFFFFFFFFF
    return value - (1 << 64) if value >> 63 else value


class PackedByteArray:
    """Godot's PackedByteArray: shared by reference, bytes stored as ``value & 0xff``."""

    __slots__ = ("b",)

    def __init__(self, data: bytes | bytearray = b"") -> None:
        self.b = bytearray(data)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PackedByteArray) and self.b == other.b

    def __hash__(self) -> int:  # pragma: no cover - never a key here
        return hash(bytes(self.b))

    def __repr__(self) -> str:
        return f"PackedByteArray({bytes(self.b).hex()})"

    def index(self, i: int) -> int:
        n = len(self.b)
        if not -n <= i < n:
            raise GDScriptError(f"index {i} out of bounds (size {n})")
        return i % n if n else i

    def _at(self, offset: int, size: int) -> None:
        if offset < 0 or offset + size > len(self.b):
            raise GDScriptError(f"{size} bytes at offset {offset} out of bounds ({len(self.b)})")

    def call(self, name: str, args: list[Any]) -> Any:
        b = self.b
        if name == "size":
            return len(b)
        if name == "is_empty":
            return not b
        if name == "append":
            b.append(args[0] & 0xFF)
            return False
        if name == "append_array":
            b.extend(args[0].b)
            return None
        if name == "resize":
            del b[args[0] :]
            b.extend(bytes(max(0, args[0] - len(b))))
            return 0
        if name == "reverse":
            b.reverse()
            return None
        if name == "slice":
            begin, end = args[0], args[1] if len(args) > 1 else INT_MAX
            begin, end = (x + len(b) if x < 0 else x for x in (begin, end))
            return PackedByteArray(b[max(0, begin) : max(0, min(end, len(b)))])
        if name == "get_string_from_utf8":
            try:
                return bytes(b).decode("utf-8")
            except UnicodeDecodeError:
                return ""  # "Returns empty string if source array is not valid UTF-8"
        if name.startswith(("decode_", "encode_")):
            fmt = {"u8": "B", "s16": "h", "u16": "H", "u32": "I", "s32": "i", "s64": "q"}.get(
                name[7:], {"float": "f", "double": "d", "u64": "Q"}.get(name[7:], "")
            )
            if not fmt:
                raise NotImplementedError(f"PackedByteArray.{name}")
            self._at(args[0], struct.calcsize(fmt))
            if name.startswith("decode_"):
                return struct.unpack_from("<" + fmt, b, args[0])[0]
            value = args[1] if fmt in "fd" else args[1] % (1 << (8 * struct.calcsize(fmt)))
            if fmt in "hiq":
                value = wrap(args[1])
            struct.pack_into("<" + fmt, b, args[0], value)
            return None
        raise NotImplementedError(f"PackedByteArray.{name}")


class PackedStringArray(list):  # type: ignore[type-arg]
    """Godot's PackedStringArray (iterates and sizes like an Array)."""


class Instance:
    """An object of an inner class or of the script."""

    def __init__(self, cls: ClassDef) -> None:
        self.cls = cls
        self.fields: dict[str, Any] = {}
        self.signals: dict[str, GDSignal] = {}


class ClassDef:
    """An inner class, or the script's own class (its top-level members)."""

    def __init__(self, name: str, children: list[Any]) -> None:
        self.name = name
        self.vars: list[Tree] = []
        self.methods: dict[str, Tree] = {}
        self.signals: list[str] = []
        for child in children:
            if isinstance(child, Tree) and child.data == "class_var_stmt":
                self.vars.append(child.children[0])
            elif isinstance(child, Tree) and child.data in ("func_def", "static_func_def"):
                func = child if child.data == "func_def" else child.children[0]
                self.methods[str(func.children[0].children[0])] = func
            elif isinstance(child, Tree) and child.data == "signal_stmt":
                self.signals.append(str(child.children[0]))


class GDCallable:
    """A Callable: a Python function, or none (``Callable()``, not valid)."""

    def __init__(self, script: Script, fn: Callable[..., Any] | None) -> None:
        self.script, self.fn = script, fn

    def gd_call(self, name: str, args: list[Any]) -> Any:
        if name == "is_valid":
            return self.fn is not None
        if self.fn is None:
            raise GDScriptError(f"Callable.{name} on an invalid Callable")
        if name == "call":
            return self.fn(*args)
        if name == "call_deferred":
            self.script.deferred.append((self.fn, args))
            return None
        raise NotImplementedError(f"Callable.{name}")


class GDSignal:
    """A signal of an object: ``emit``, ``emit.call_deferred`` and Python handlers."""

    def __init__(self, script: Script, name: str) -> None:
        self.script, self.name = script, name
        self.handlers: list[Callable[..., Any]] = []

    def emit(self, *args: Any) -> None:
        for handler in list(self.handlers):
            handler(*args)

    def gd_get(self, name: str) -> Any:
        if name == "emit":
            return GDCallable(self.script, self.emit)
        raise NotImplementedError(f"Signal.{name}")

    def gd_call(self, name: str, args: list[Any]) -> Any:
        if name == "emit":
            self.emit(*args)
            return None
        raise NotImplementedError(f"Signal.{name}")


def typeof(value: Any) -> int:
    if value is None:
        return 0
    if isinstance(value, PackedStringArray):
        return 34
    kinds: list[tuple[type, int]] = [
        (bool, 1),
        (int, 2),
        (float, 3),
        (str, 4),
        (Instance, 24),
        (dict, 27),
        (list, 28),
        (PackedByteArray, 29),
    ]
    for kind, code in kinds:
        if isinstance(value, kind):
            return code
    if isinstance(value, GDCallable):
        return 25
    if isinstance(value, GDSignal):
        return 26
    if hasattr(value, "gd_call"):
        return 24  # an engine object
    raise NotImplementedError(f"typeof {type(value).__name__}")


def default_of(type_name: str) -> Any:
    return {
        "int": 0,
        "float": 0.0,
        "bool": False,
        "String": "",
        "PackedByteArray": None,
        "Array": None,
        "Dictionary": None,
    }.get(type_name)


def string_method(text: str, name: str, args: list[Any]) -> Any:
    if name == "to_utf8_buffer":
        return PackedByteArray(text.encode("utf-8"))
    if name == "path_join":
        return text.rstrip("/") + "/" + args[0]
    if name == "strip_edges":
        return text.strip()
    if name == "is_empty":
        return not text
    if name == "replace":
        return text.replace(args[0], args[1])
    if name == "join":
        return text.join(args[0])
    raise NotImplementedError(f"String.{name}")


def container_method(obj: list[Any] | dict[Any, Any], name: str, args: list[Any]) -> Any:
    if name == "size":
        return len(obj)
    if name == "is_empty":
        return not obj
    if name == "clear":
        obj.clear()
        return None
    if isinstance(obj, list) and name == "append":
        obj.append(args[0])
        return None
    if isinstance(obj, list) and name == "has":
        # Variant equality: numbers compare by value, other kinds only with their own kind.
        numbers = (int, float)
        return any(
            x == args[0]
            and (typeof(x) == typeof(args[0]) or (type(x) in numbers and type(args[0]) in numbers))
            for x in obj
        )
    if name == "duplicate" and not (args and args[0]):
        return type(obj)(obj)  # shallow, as duplicate() and duplicate(false) are
    if isinstance(obj, dict):
        if name == "has":
            return args[0] in obj
        if name == "get":
            return obj.get(args[0], args[1] if len(args) > 1 else None)
        if name == "erase":
            return obj.pop(args[0], _MISSING) is not _MISSING
        if name == "keys":
            return list(obj)
    raise NotImplementedError(f"{type(obj).__name__}.{name}")


_MISSING = object()
