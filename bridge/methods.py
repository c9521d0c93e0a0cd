"""The bridge's method table: names, typed parameters, handlers; ``rpc.describe`` is
generated from it.

Handlers take a :class:`Context` (one client's view of the server: its NPCs,
its streams, a way to send it notifications) and the checked parameters,
and return the result. They do no socket I/O; the server implements
:class:`Context`. Handlers marked ``blocking`` run on a worker thread
(translation, speech); the others run on the event loop and must be quick,
which also keeps one client's dialogue requests in the order it sent them.

Methods of the protocol whose component this server lacks stay in the table
with no handler: ``rpc.describe`` marks them unavailable and calling one is
error 2011, so clients can tell "not here" from "no such method".
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from bridge import media
from bridge.errors import BadParamsError, UnavailableError, UnknownMethodError
from bridge.protocol import PROTOCOL_VERSION
from npc_ai.dialogue.persona import Persona, load_persona, parse_persona
from npc_ai.errors import InputError
from npc_ai.runtime import Priority, ReplyDelta, ReplyDone, ReplyError, ReplyHandle, Runtime

__all__ = [
    "METHODS",
    "Context",
    "Method",
    "Param",
    "check_params",
    "describe",
    "find",
    "persona_file",
]


class Context(media.MediaContext, Protocol):
    """What a handler may use: one client's state on the server."""

    runtime: Runtime
    #: The NPCs this client loaded: id -> the runtime's id (the same: NPC ids are
    #: server-wide, since they name the NPC's memory in the store and in save blobs).
    npcs: dict[str, str]
    #: Replies of this client not yet ended, by stream id.
    streams: dict[int, ReplyHandle]
    persona_dirs: tuple[Path, ...]
    server_name: str
    #: The components this server has (see :attr:`Method.needs`).
    services: frozenset[str]

    def notify(self, method: str, params: dict[str, Any]) -> None:
        """Queue a notification for this client."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Param:
    """One named argument: ``type`` is one of str, int, float, bool, bin, map,
    array, any, str|map, [str]."""

    name: str
    type: str
    required: bool = True
    doc: str = ""


Handler = Callable[[Context, dict[str, Any]], Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class Method:
    """A method of the protocol; ``handler`` None means this server cannot serve it."""

    name: str
    doc: str
    params: tuple[Param, ...] = ()
    result: str = "{}"
    notifications: tuple[str, ...] = ()
    handler: Handler | None = None
    blocking: bool = False
    #: The server component it needs ("translator", "subtitles", "memory"), if any.
    needs: str | None = None

    def to_dict(self, services: Collection[str] = ()) -> dict[str, Any]:
        return {
            "name": self.name,
            "doc": self.doc,
            "params": [
                {"name": p.name, "type": p.type, "required": p.required, "doc": p.doc}
                for p in self.params
            ],
            "result": self.result,
            "notifications": list(self.notifications),
            "available": self.available(services),
        }

    def available(self, services: Collection[str]) -> bool:
        """Whether a server with these components can serve it."""
        return self.handler is not None and (self.needs is None or self.needs in services)


# -- parameter checks --------------------------------------------------------------------

_CHECKS: dict[str, Callable[[Any], bool]] = {
    "str": lambda v: isinstance(v, str),
    "int": lambda v: type(v) is int,
    "float": lambda v: type(v) in (int, float),
    "bool": lambda v: type(v) is bool,
    "bin": lambda v: isinstance(v, bytes),
    "map": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "any": lambda v: True,
    "str|map": lambda v: isinstance(v, str | dict),
    "[str]": lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v),
}


def check_params(method: Method, params: Mapping[str, Any]) -> dict[str, Any]:
    """The params, checked against the method's table entry (unknown names are errors)."""
    known = {p.name: p for p in method.params}
    for name in params:
        if name not in known:
            raise BadParamsError(
                f"{method.name} has no parameter {name!r} (it takes: {', '.join(known) or 'none'})",
                method=method.name,
                param=name,
            )
    for p in method.params:
        if p.name not in params:
            if p.required:
                raise BadParamsError(
                    f"{method.name} needs the parameter {p.name!r} ({p.type})",
                    method=method.name,
                    param=p.name,
                    expected=p.type,
                )
            continue
        if not _CHECKS[p.type](params[p.name]):
            raise BadParamsError(
                f"{method.name}: parameter {p.name!r} must be {p.type}, "
                f"got {type(params[p.name]).__name__}",
                method=method.name,
                param=p.name,
                expected=p.type,
            )
    return dict(params)


def find(name: str, services: Collection[str] = ()) -> Method:
    """The method by name, ready to call on a server with ``services`` (raises 2004 or 2011)."""
    method = METHODS.get(name)
    if method is None:
        raise UnknownMethodError(f"no method {name!r} (rpc.describe lists them)", method=name)
    if not method.available(services):
        raise UnavailableError(
            f"{name} is part of protocol {PROTOCOL_VERSION} but this server cannot serve it "
            "(its component is not installed)",
            method=name,
        )
    return method


def describe(services: Collection[str] = ()) -> dict[str, Any]:
    """The ``rpc.describe`` result (without the server's name)."""
    methods = [m.to_dict(services) for m in METHODS.values()]
    return {"protocol": PROTOCOL_VERSION, "methods": methods}


# -- rpc -----------------------------------------------------------------------------------


def _describe(ctx: Context, p: dict[str, Any]) -> dict[str, Any]:
    return {"server": ctx.server_name, **describe(ctx.services)}


def _ping(ctx: Context, p: dict[str, Any]) -> dict[str, Any]:
    return {"echo": p.get("echo")}


def _hello(ctx: Context, p: dict[str, Any]) -> Any:  # pragma: no cover - the connection answers
    raise InputError("rpc.hello is answered by the connection itself")


# -- npc -----------------------------------------------------------------------------------

_PRIORITIES = {"focused": Priority.FOCUSED, "nearby": Priority.NEARBY}
_PRIORITIES["background"] = Priority.BACKGROUND


def _priority(value: str | None) -> Priority:
    if value is None:
        return Priority.NEARBY
    try:
        return _PRIORITIES[value]
    except KeyError:
        raise BadParamsError(
            f"priority must be one of {', '.join(_PRIORITIES)}, got {value!r}",
            param="priority",
            expected="focused | nearby | background",
        ) from None


def persona_file(name: str, dirs: tuple[Path, ...]) -> Path:
    """The persona file ``name`` names, if it resolves inside one of ``dirs``.

    Relative names are tried in each folder in turn; symlinks and ``..`` are
    resolved before the check, so neither leads outside.
    """
    if not dirs:
        raise InputError(
            "this server has no persona folders; send the persona itself, or start the "
            "server with --personas DIR"
        )
    roots = [d.resolve() for d in dirs]
    try:
        path = Path(name)  # no ~ expansion: a client names files inside the folders
        candidates = [path] if path.is_absolute() else [root / path for root in roots]
        for candidate in candidates:
            real = candidate.resolve()
            if any(real.is_relative_to(root) for root in roots) and real.is_file():
                return real
    except (OSError, ValueError, RuntimeError):  # NUL bytes, symlink loops, odd names
        pass
    raise InputError(
        f"persona file {name!r} is not in the server's persona folders "
        f"({', '.join(str(r) for r in roots)})",
        file=name,
    )


def _load(ctx: Context, p: dict[str, Any]) -> dict[str, Any]:
    if ("persona" in p) == ("file" in p):
        raise BadParamsError(
            "npc.load needs exactly one of 'persona' (TOML text or a map) and 'file'",
            param="persona",
            expected="persona | file",
        )
    persona: Persona
    if "file" in p:
        persona = load_persona(persona_file(p["file"], ctx.persona_dirs))
    else:
        persona = parse_persona(p["persona"], source="<npc.load>")
    npc_id = p.get("id") or persona.name
    if npc_id in ctx.npcs:
        raise InputError(f"an NPC with id {npc_id!r} is already loaded", id=npc_id)
    priority = _priority(p.get("priority"))
    # Another client's NPC of that id makes the runtime refuse (InputError, 1300).
    runtime_id = ctx.runtime.add_npc(persona, npc_id=npc_id, priority=priority)
    ctx.npcs[npc_id] = runtime_id
    return {"id": npc_id, "name": persona.name}


def _npc(ctx: Context, npc_id: str) -> str:
    try:
        return ctx.npcs[npc_id]
    except KeyError:
        known = ", ".join(sorted(ctx.npcs)) or "none"
        raise InputError(f"no NPC with id {npc_id!r} (loaded: {known})", id=npc_id) from None


def _unload(ctx: Context, p: dict[str, Any]) -> dict[str, Any]:
    ctx.runtime.remove_npc(_npc(ctx, p["id"]))
    del ctx.npcs[p["id"]]
    return {}


def _set_priority(ctx: Context, p: dict[str, Any]) -> dict[str, Any]:
    ctx.runtime.set_priority(_npc(ctx, p["id"]), _priority(p["priority"]))
    return {}


def _say(ctx: Context, p: dict[str, Any]) -> dict[str, Any]:
    npc_id = p["npc"]
    runtime_id = _npc(ctx, npc_id)

    def on_delta(event: ReplyDelta) -> None:
        ctx.notify("npc.delta", {"stream": event.reply, "text": event.text})

    def on_done(event: ReplyDone) -> None:
        ctx.streams.pop(event.reply, None)
        ctx.notify(
            "npc.done",
            {
                "stream": event.reply,
                "npc": npc_id,
                "text": event.text,
                "finish_reason": event.finish_reason,
            },
        )

    def on_error(event: ReplyError) -> None:
        ctx.streams.pop(event.reply, None)
        ctx.notify(
            "npc.error", {"stream": event.reply, "npc": npc_id, "error": event.error.to_dict()}
        )

    handle = ctx.runtime.say(
        runtime_id,
        p["text"],
        seed=p.get("seed"),
        on_delta=on_delta,
        on_done=on_done,
        on_error=on_error,
    )
    ctx.streams[handle.id] = handle
    return {"stream": handle.id}


def _cancel(ctx: Context, p: dict[str, Any]) -> dict[str, Any]:
    handle = ctx.streams.get(p["stream"])
    if handle is None or handle.done:
        return {"cancelled": False}
    handle.cancel()
    return {"cancelled": True}


def _export(ctx: Context, p: dict[str, Any]) -> dict[str, Any]:
    ids = p.get("ids")
    return {"blob": ctx.runtime.export_memory(sorted(ctx.npcs) if ids is None else ids)}


def _import(ctx: Context, p: dict[str, Any]) -> dict[str, Any]:
    return {"ids": ctx.runtime.import_memory(p["blob"])}


# -- the table -----------------------------------------------------------------------------

_STREAM_NOTES = ("npc.delta", "npc.done", "npc.error")
_SUBTITLE_NOTES = ("subtitle.partial", "subtitle.final", "subtitle.translation", "subtitle.error")

_TABLE = (
    Method(
        name="rpc.hello",
        doc="First message: protocol major version, token, client name. Answers the limits.",
        params=(
            Param(name="protocol", type="int", doc="major version the client speaks"),
            Param(name="token", type="str", doc="from the discovery file or --token"),
            Param(name="client", type="str", doc="client name for logs"),
        ),
        result="{server: str, protocol: int, limits: map}",
        handler=_hello,
    ),
    Method(
        name="rpc.describe",
        doc="The methods this server knows, with their parameters.",
        result="{server: str, protocol: int, methods: array}",
        handler=_describe,
    ),
    Method(
        name="rpc.ping",
        doc="Answers at once with the value given (for round-trip timing).",
        params=(Param(name="echo", type="any", required=False, doc="returned as is"),),
        result="{echo: any}",
        handler=_ping,
    ),
    Method(
        name="npc.load",
        doc="Add an NPC from a persona (TOML text or map) or a file in a persona folder.",
        params=(
            Param(name="id", type="str", required=False, doc="default: the persona's name"),
            Param(name="persona", type="str|map", required=False, doc="TOML text or a map"),
            Param(name="file", type="str", required=False, doc="path in a persona folder"),
            Param(name="priority", type="str", required=False, doc="focused | nearby | background"),
        ),
        result="{id: str, name: str}",
        handler=_load,
    ),
    Method(
        name="npc.unload",
        doc="Remove an NPC; its reply in progress is cancelled.",
        params=(Param(name="id", type="str"),),
        handler=_unload,
    ),
    Method(
        name="npc.priority",
        doc="Who is served first: focused, nearby or background.",
        params=(Param(name="id", type="str"), Param(name="priority", type="str")),
        handler=_set_priority,
    ),
    Method(
        name="npc.say",
        doc="The player says text to an NPC; the reply streams as npc.delta, then exactly "
        "one npc.done or npc.error.",
        params=(
            Param(name="npc", type="str", doc="the NPC's id"),
            Param(name="text", type="str", doc="what the player says"),
            Param(name="seed", type="int", required=False, doc="same seed, same reply"),
        ),
        result="{stream: int}",
        notifications=_STREAM_NOTES,
        handler=_say,
    ),
    Method(
        name="npc.cancel",
        doc="Stop a reply; it ends with npc.done (finish_reason cancelled).",
        params=(Param(name="stream", type="int", doc="stream id"),),
        result="{cancelled: bool}",
        handler=_cancel,
    ),
    Method(
        name="npc.export",
        doc="A save blob of the NPCs' memory (all of this client's NPCs by default).",
        params=(Param(name="ids", type="[str]", required=False),),
        result="{blob: bin}",
        handler=_export,
        needs="memory",
    ),
    Method(
        name="npc.import",
        doc="Restore NPC memory from a save blob; answers the NPC ids restored.",
        params=(Param(name="blob", type="bin"),),
        result="{ids: [str]}",
        handler=_import,
        needs="memory",
    ),
    Method(
        name="translate.text",
        doc="Translate text between two languages (ISO 639-1 codes).",
        params=(
            Param(name="text", type="str"),
            Param(name="source", type="str"),
            Param(name="target", type="str"),
        ),
        result="{text: str}",
        handler=media.translate_text,
        blocking=True,
        needs="translator",
    ),
    Method(
        name="subtitle.start",
        doc="Start live captions of audio the engine pushes.",
        params=(
            Param(name="language", type="str", required=False, doc="spoken language"),
            Param(name="translate", type="[str]", required=False, doc="target languages"),
        ),
        result="{session: int, sample_rate: int}",
        notifications=_SUBTITLE_NOTES,
        handler=media.start_subtitles,
        blocking=True,
        needs="subtitles",
    ),
    Method(
        name="subtitle.push",
        doc="A chunk of 16 kHz mono int16 little-endian PCM.",
        params=(Param(name="session", type="int"), Param(name="pcm", type="bin")),
        handler=media.push_subtitles,
        needs="subtitles",
    ),
    Method(
        name="subtitle.stop",
        doc="End a caption session; answers once its last captions are sent.",
        params=(Param(name="session", type="int"),),
        handler=media.stop_subtitles,
        blocking=True,
        needs="subtitles",
    ),
)

#: Every method of the protocol, by name.
METHODS: dict[str, Method] = {m.name: m for m in _TABLE}
