"""A small interpreter for the subset of GDScript 4 that bridge/godot's msgpack.gd uses, so
the tests can run the add-on's codec on the golden vectors without a Godot binary.

It walks gdtoolkit's parse tree and models Godot's semantics where the codec depends on them:
64-bit wrapping integers with arithmetic right shifts, truncating integer division, packed
byte arrays that store `value & 0xff`, read and write little-endian in decode_*/encode_* and
fail out of range, type-strict match, and typeof/type_string. Anything outside the subset (an
unknown node, method or builtin) raises NotImplementedError, so the subset cannot silently
drift from what the script uses; a runtime error that Godot would report (an index out of
range, comparing a String with an int) raises GDScriptError.

This models Godot; it is not Godot. bridge/godot/README.md says what that does and does not
prove.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Any

from gdtoolkit.parser import parser
from lark import Token, Tree

from tests.gdscript_values import (
    TYPE_NAMES,
    TYPES,
    ClassDef,
    GDCallable,
    GDScriptError,
    GDSignal,
    Instance,
    PackedByteArray,
    PackedStringArray,
    container_method,
    default_of,
    string_method,
    typeof,
    wrap,
)

__all__ = ["GDScriptError", "Instance", "PackedByteArray", "Script"]


class _Return(Exception):
    def __init__(self, value: Any) -> None:
        self.value = value


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


class Script:
    """A parsed script: its constants, functions and inner classes."""

    def __init__(self, code: str, natives: dict[str, Any] | None = None) -> None:
        """``natives``: engine names the script may use (classes, singletons, constants,
        functions), for scripts beyond the pure codec."""
        self.tree = parser.parse(code)
        self.natives = natives or {}
        self.consts: dict[str, Any] = {}
        self.funcs: dict[str, Tree] = {}
        self.classes: dict[str, ClassDef] = {}
        self.main = ClassDef("<script>", self.tree.children)
        self.deferred: list[tuple[Callable[..., Any], list[Any]]] = []
        self.log: list[tuple[str, str]] = []
        self.steps = 0
        for child in self.tree.children:
            if isinstance(child, Tree) and child.data == "enum_stmt":
                named = child.children[0]
                elements = named.children[1].children
                self.consts[str(named.children[0])] = {
                    str(e.children[0]): i for i, e in enumerate(elements)
                }
        for child in self.tree.children:
            if not isinstance(child, Tree):
                continue
            if child.data == "class_def":
                name = str(child.children[0])
                self.classes[name] = ClassDef(name, child.children[1:])
            elif child.data in ("func_def", "static_func_def"):
                func = child if child.data == "func_def" else child.children[0]
                self.funcs[str(func.children[0].children[0])] = func
        for child in self.tree.children:
            if isinstance(child, Tree) and child.data == "const_stmt":
                stmt = child.children[0]
                self.consts[str(stmt.children[0])] = self.eval(stmt.children[-1], {}, None)

    def call(self, name: str, *args: Any) -> Any:
        """Call a function of the script (a static one, or one needing no ``self``)."""
        return self._invoke(self.funcs[name], list(args), None)

    def instance(self, **base: Any) -> Instance:
        """An object of the script; ``base`` holds members of its engine base class."""
        obj = Instance(self.main)
        obj.fields.update(base)
        obj.signals = {name: GDSignal(self, name) for name in self.main.signals}
        for var in self.main.vars:
            obj.fields[str(var.children[0])] = self._initial(var, obj)
        return obj

    def method(self, obj: Instance, name: str, *args: Any) -> Any:
        """Call a method of an object of the script."""
        return self._invoke(obj.cls.methods[name], list(args), obj)

    def callable(self, fn: Callable[..., Any]) -> GDCallable:
        """A Python function as a GDScript Callable."""
        return GDCallable(self, fn)

    def flush_deferred(self) -> None:
        """Run what call_deferred queued (Godot does at the end of the frame)."""
        while self.deferred:
            fn, args = self.deferred.pop(0)
            fn(*args)

    # The script as a preloaded resource: its static functions and constants.
    def gd_call(self, name: str, args: list[Any]) -> Any:
        return self.call(name, *args)

    def gd_get(self, name: str) -> Any:
        return self.consts[name]

    # -- functions ---------------------------------------------------------------------------

    def _invoke(self, func: Tree, args: list[Any], this: Instance | None) -> Any:
        header = func.children[0]
        params = header.children[1].children if len(header.children) > 1 else []
        local: dict[str, Any] = {}
        args_of = (p for p in params if isinstance(p, Tree) and p.data != "trailing_comma")
        for i, param in enumerate(args_of):
            name = str(param.children[0])
            if i < len(args):
                local[name] = args[i]
            elif isinstance(param.children[-1], Tree):
                local[name] = self.eval(param.children[-1], local, this)
            else:
                raise GDScriptError(f"missing argument {name}")
        try:
            self._block(func.children[1:], local, this)
        except _Return as ret:
            return ret.value
        return None

    def _initial(self, var: Tree, obj: Instance) -> Any:
        if var.data == "class_var_typed":
            kind = str(var.children[1])
            return PackedByteArray() if kind == "PackedByteArray" else default_of(kind)
        if var.data == "class_var_empty":
            return None
        return self.eval(var.children[-1], {}, obj)

    def _new(self, cls: ClassDef, args: list[Any]) -> Instance:
        obj = Instance(cls)
        for var in cls.vars:
            obj.fields[str(var.children[0])] = self._initial(var, obj)
        if "_init" in cls.methods:
            self._invoke(cls.methods["_init"], args, obj)
        return obj

    # -- statements --------------------------------------------------------------------------

    def _block(self, stmts: list[Any], local: dict[str, Any], this: Instance | None) -> None:
        for stmt in stmts:
            self._stmt(stmt, local, this)

    def _stmt(self, node: Any, local: dict[str, Any], this: Instance | None) -> None:
        self.steps += 1
        if self.steps > 50_000_000:
            raise GDScriptError("too many steps (an endless loop?)")
        kind = node.data
        if kind == "expr_stmt":
            self.eval(node.children[0], local, this)
        elif kind == "func_var_stmt":
            var = node.children[0]
            name = str(var.children[0])
            if var.data == "func_var_typed":
                local[name] = default_of(str(var.children[1]))
            elif var.data == "func_var_empty":
                local[name] = None
            else:
                local[name] = self.eval(var.children[-1], local, this)
        elif kind == "return_stmt":
            raise _Return(self.eval(node.children[0], local, this) if node.children else None)
        elif kind == "if_stmt":
            for branch in node.children:
                if branch.data == "else_branch":
                    self._block(branch.children, local, this)
                    break
                if self._truth(self.eval(branch.children[0], local, this)):
                    self._block(branch.children[1:], local, this)
                    break
        elif kind == "for_stmt":
            name = str(node.children[0])
            for item in self._iterate(self.eval(node.children[1], local, this)):
                local[name] = item
                try:
                    self._block(node.children[2:], local, this)
                except _Break:
                    break
                except _Continue:
                    continue
        elif kind == "while_stmt":
            while self._truth(self.eval(node.children[0], local, this)):
                try:
                    self._block(node.children[1:], local, this)
                except _Break:
                    break
                except _Continue:
                    continue
        elif kind == "match_stmt":
            subject = self.eval(node.children[0], local, this)
            for branch in node.children[1:]:
                if self._matches(branch.children[0], subject, local, this):
                    self._block(branch.children[1:], local, this)
                    break
        elif kind == "break_stmt":
            raise _Break()
        elif kind == "continue_stmt":
            raise _Continue()
        elif kind != "pass_stmt":
            raise NotImplementedError(f"statement {kind}")

    def _matches(self, pattern: Tree, subject: Any, local: dict[str, Any], this: Any) -> bool:
        inner = pattern.children[0]
        if isinstance(inner, Tree) and inner.data == "wildcard_pattern":
            return True
        options = (
            inner.children if isinstance(inner, Tree) and inner.data == "list_pattern" else [inner]
        )
        for option in options:
            if isinstance(option, Tree) and option.data.endswith("_pattern"):
                raise NotImplementedError(f"pattern {option.data}")
            value = self.eval(option, local, this)
            if typeof(value) == typeof(subject) and value == subject:
                return True
        return False

    def _iterate(self, value: Any) -> Iterator[Any]:
        if isinstance(value, bool):
            raise GDScriptError("cannot iterate a bool")
        if isinstance(value, int):
            return iter(range(value))
        if isinstance(value, PackedByteArray):
            return iter(list(value.b))
        if isinstance(value, (list, dict, str)):
            return iter(list(value))
        raise GDScriptError(f"cannot iterate {type(value).__name__}")

    # -- expressions -------------------------------------------------------------------------

    def eval(self, node: Any, local: dict[str, Any], this: Instance | None) -> Any:
        if isinstance(node, Token):
            return self._token(node, local, this)
        kind = node.data.replace("asless_", "").replace("actual_", "")
        ch = node.children
        if kind in ("expr", "par_expr"):
            return self.eval(ch[0], local, this)
        if kind in ("arith_expr", "mdr_expr", "shift_expr", "bitw_and", "bitw_or", "bitw_xor"):
            value = self.eval(ch[0], local, this)
            for i in range(1, len(ch), 2):
                value = self._binary(str(ch[i]), value, self.eval(ch[i + 1], local, this))
            return value
        if kind == "comparison":
            left = self.eval(ch[0], local, this)
            for i in range(1, len(ch), 2):
                right = self.eval(ch[i + 1], local, this)
                if not self._compare(str(ch[i]), left, right):
                    return False
                left = right
            return True
        if kind == "and_test":
            return all(self._truth(self.eval(c, local, this)) for c in ch[::2])
        if kind == "or_test":
            return any(self._truth(self.eval(c, local, this)) for c in ch[::2])
        if kind == "not_test":
            return not self._truth(self.eval(ch[-1], local, this))
        if kind == "neg_expr":
            value = self.eval(ch[-1], local, this)
            return wrap(-value) if isinstance(value, int) else -value
        if kind == "test_expr":
            cond = self._truth(self.eval(ch[2], local, this))
            return self.eval(ch[0] if cond else ch[4], local, this)
        if kind == "array":
            return [self.eval(c, local, this) for c in ch]
        if kind == "dict":
            return {
                self.eval(e.children[0], local, this): self.eval(e.children[1], local, this)
                for e in ch
            }
        if kind == "string":
            return self._token(ch[0], local, this)
        if kind == "assnmnt_expr":
            self._assign(ch[0], str(ch[1]), self.eval(ch[2], local, this), local, this)
            return None
        if kind == "subscr_expr":
            return self._subscript(self.eval(ch[0], local, this), self.eval(ch[1], local, this))
        if kind == "getattr":
            value = self.eval(ch[0], local, this)
            for name in ch[2::2]:
                value = self._attr(value, str(name))
            return value
        if kind == "getattr_call":
            target = ch[0]
            obj = self.eval(target.children[0], local, this)
            for name in target.children[2:-1:2]:
                obj = self._attr(obj, str(name))
            args = [self.eval(a, local, this) for a in ch[1:]]
            return self._method(obj, str(target.children[-1]), args)
        if kind == "standalone_call":
            args = [self.eval(a, local, this) for a in ch[1:]]
            return self._function(str(ch[0]), args, this)
        if kind == "type_test":
            return typeof(self.eval(ch[0], local, this)) == {
                "int": 2,
                "float": 3,
                "String": 4,
                "bool": 1,
                "Dictionary": 27,
                "Array": 28,
                "PackedByteArray": 29,
                "Callable": 25,
            }.get(str(ch[2]), -1)
        raise NotImplementedError(f"expression {node.data}")

    def _token(self, token: Token, local: dict[str, Any], this: Instance | None) -> Any:
        text = str(token)
        if token.type in ("REGULAR_STRING", "LONG_STRING", "STRING"):
            return text[1:-1].encode("latin-1", "backslashreplace").decode("unicode_escape")
        digits = text[1:] if text.startswith("-") else text  # the lexer keeps a sign
        if digits[:1].isdigit():
            digits = digits.replace("_", "")
            if digits.startswith(("0x", "0b")):
                number: float = int(digits, 0)
            else:
                number = float(digits) if any(c in digits for c in ".e") else int(digits)
            return -number if text.startswith("-") else number
        literals = {"true": True, "false": False, "null": None, "INF": math.inf}
        if text in literals:
            return literals[text]
        if text in local:
            return local[text]
        if this is not None and text in this.fields:
            return this.fields[text]
        if this is not None and text in this.signals:
            return this.signals[text]
        if text in self.consts:
            return self.consts[text]
        if text in self.classes:
            return self.classes[text]
        if text in TYPES:
            return TYPES[text]
        if text in self.natives:
            return self.natives[text]
        raise GDScriptError(f"identifier {text!r} is not declared")

    def _truth(self, value: Any) -> bool:
        if isinstance(value, PackedByteArray):
            return bool(value.b)
        return bool(value)

    def _binary(self, op: str, a: Any, b: Any) -> Any:
        both_int = type(a) is int and type(b) is int
        if op == "%" and isinstance(a, str):
            return a % (tuple(b) if isinstance(b, list) else b)
        if op in ("<<", ">>", "&", "|", "^") and not both_int:
            raise GDScriptError(f"{op} needs two ints")
        if op == "<<":
            return wrap(a << b)
        if op == ">>":
            return a >> b
        if op in ("&", "|", "^"):
            return {"&": a & b, "|": a | b, "^": a ^ b}[op]
        if op == "+" and isinstance(a, list) and isinstance(b, list):
            return a + b
        if op == "+" and isinstance(a, str) and isinstance(b, str):
            return a + b
        if not all(type(x) in (int, float) for x in (a, b)):
            raise GDScriptError(f"invalid operands {type(a).__name__} {op} {type(b).__name__}")
        if both_int:
            if op == "/":
                if b == 0:
                    raise GDScriptError("division by zero")
                quotient = abs(a) // abs(b)  # truncates toward zero, as C++ does
                return wrap(quotient if (a >= 0) == (b > 0) else -quotient)
            if op == "%":
                if b == 0:
                    raise GDScriptError("modulo by zero")
                return wrap(int(math.fmod(a, b)))
            return wrap({"+": a + b, "-": a - b, "*": a * b}[op])
        ops: dict[str, Callable[[float, float], float]] = {
            "+": lambda x, y: x + y,
            "-": lambda x, y: x - y,
            "*": lambda x, y: x * y,
            "/": lambda x, y: x / y,
            "%": math.fmod,
        }
        return ops[op](float(a), float(b))

    def _compare(self, op: str, a: Any, b: Any) -> bool:
        numbers = all(type(x) in (int, float) for x in (a, b))
        if op in ("==", "!="):
            if not numbers and a is not None and b is not None and typeof(a) != typeof(b):
                raise GDScriptError(f"invalid comparison {type(a).__name__} {op} {type(b)}")
            return (a == b) == (op == "==")
        if not numbers and not (isinstance(a, str) and isinstance(b, str)):
            raise GDScriptError(f"invalid comparison {type(a).__name__} {op} {type(b)}")
        return {"<": a < b, ">": a > b, "<=": a <= b, ">=": a >= b}[op]

    def _subscript(self, obj: Any, key: Any) -> Any:
        if isinstance(obj, PackedByteArray):
            return obj.b[obj.index(key)]
        if isinstance(obj, list):
            if not -len(obj) <= key < len(obj):
                raise GDScriptError(f"index {key} out of bounds (size {len(obj)})")
            return obj[key]
        if isinstance(obj, dict):
            if key not in obj:
                raise GDScriptError(f"key {key!r} not found")
            return obj[key]
        raise NotImplementedError(f"subscript of {type(obj).__name__}")

    def _attr(self, obj: Any, name: str) -> Any:
        if hasattr(obj, "gd_get"):
            return obj.gd_get(name)
        if isinstance(obj, Instance):
            if name not in obj.fields:
                raise GDScriptError(f"no member {name!r}")
            return obj.fields[name]
        if isinstance(obj, dict):
            if name not in obj:
                raise GDScriptError(f"key {name!r} not found")
            return obj[name]
        raise NotImplementedError(f"attribute {name} of {type(obj).__name__}")

    def _assign(self, target: Any, op: str, value: Any, local: dict[str, Any], this: Any) -> None:
        if op != "=":
            value = self._binary(op[:-1], self.eval(target, local, this), value)
        if isinstance(target, Token):
            name = str(target)
            if name not in local and this is not None and name in this.fields:
                this.fields[name] = value
            else:
                local[name] = value
            return
        if target.data == "getattr":
            obj = self.eval(target.children[0], local, this)
            for name in target.children[2:-1:2]:
                obj = self._attr(obj, str(name))
            last = str(target.children[-1])
            if hasattr(obj, "gd_set"):
                obj.gd_set(last, value)
            elif isinstance(obj, Instance):
                obj.fields[last] = value
            elif isinstance(obj, dict):
                obj[last] = value
            else:
                raise NotImplementedError(f"set {last} on {type(obj).__name__}")
            return
        if target.data == "subscr_expr":
            obj = self.eval(target.children[0], local, this)
            key = self.eval(target.children[1], local, this)
            if isinstance(obj, PackedByteArray):
                obj.b[obj.index(key)] = value & 0xFF
            elif isinstance(obj, (list, dict)):
                obj[key] = value
            else:
                raise NotImplementedError(f"item assignment on {type(obj).__name__}")
            return
        raise NotImplementedError(f"assignment to {target.data}")

    def _method(self, obj: Any, name: str, args: list[Any]) -> Any:
        if isinstance(obj, ClassDef):
            if name != "new":
                raise NotImplementedError(f"{obj.name}.{name}")
            return self._new(obj, args)
        if isinstance(obj, Instance):
            if name not in obj.cls.methods:
                raise GDScriptError(f"no method {name!r} in {obj.cls.name}")
            return self._invoke(obj.cls.methods[name], args, obj)
        if isinstance(obj, PackedByteArray):
            return obj.call(name, args)
        if hasattr(obj, "gd_call"):
            return obj.gd_call(name, args)
        if isinstance(obj, str):
            return string_method(obj, name, args)
        if isinstance(obj, (list, dict)):
            return container_method(obj, name, args)
        raise NotImplementedError(f"{type(obj).__name__}.{name}")

    def _function(self, name: str, args: list[Any], this: Instance | None) -> Any:
        if this is not None and name in this.cls.methods:
            return self._invoke(this.cls.methods[name], args, this)
        if name in self.funcs:
            return self._invoke(self.funcs[name], args, None)
        builtins: dict[str, Callable[..., Any]] = {
            "range": lambda *a: list(range(*a)),
            "typeof": typeof,
            "type_string": lambda t: TYPE_NAMES.get(t, f"type {t}"),
            "String": lambda v: v if isinstance(v, str) else str(v),
            "int": lambda v: wrap(int(v)),
            "float": float,
            "PackedByteArray": lambda *a: PackedByteArray(a[0].b if a else b""),
            "PackedStringArray": lambda *a: PackedStringArray(a[0] if a else []),
            "mini": min,
            "maxi": max,
            "clampf": lambda v, lo, hi: float(min(max(v, lo), hi)),
            "roundi": lambda v: wrap(math.floor(abs(v) + 0.5) * (1 if v >= 0 else -1)),
            "Callable": lambda: GDCallable(self, None),
            "push_error": lambda text: self.log.append(("error", text)),
            "push_warning": lambda text: self.log.append(("warning", text)),
        }
        if name in builtins:
            return builtins[name](*args)
        if callable(self.natives.get(name)):
            return self.natives[name](*args)
        raise NotImplementedError(f"function {name}")
