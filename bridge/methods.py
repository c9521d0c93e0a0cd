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

A handler whose answer takes a while without holding the event loop
(``npc.prepare``) returns a :class:`concurrent.futures.Future` of its result;
the server answers when it resolves. Each method and parameter says in
``since`` which protocol version added it (``rpc.describe`` shows it).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from bridge import media, npcs
from bridge.errors import BadParamsError, UnavailableError, UnknownMethodError
from bridge.npcs import MAX_HEARD_BY, done_params, persona_file
from bridge.protocol import PROTOCOL_MINOR, PROTOCOL_VERSION
from npc_ai.errors import InputError

__all__ = [
    "MAX_HEARD_BY",
    "METHODS",
    "Context",
    "Method",
    "Param",
    "check_params",
    "describe",
    "done_params",
    "find",
    "persona_file",
]


class Context(media.MediaContext, npcs.NpcContext, Protocol):
    """What a handler may use: one client's state on the server."""

    server_name: str
    #: The components this server has (see :attr:`Method.needs`).
    services: frozenset[str]


@dataclass(frozen=True, slots=True, kw_only=True)
class Param:
    """One named argument: ``type`` is one of str, int, float, bool, bin, map,
    array, any, str|map, [str]."""

    name: str
    type: str
    required: bool = True
    doc: str = ""
    #: The protocol version that added it.
    since: str = "1.0"


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
    #: The protocol version that added it.
    since: str = "1.0"

    def to_dict(self, services: Collection[str] = ()) -> dict[str, Any]:
        return {
            "name": self.name,
            "doc": self.doc,
            "params": [
                {
                    "name": p.name,
                    "type": p.type,
                    "required": p.required,
                    "doc": p.doc,
                    # A parameter is as new as the method it belongs to.
                    "since": max(p.since, self.since, key=_version),
                }
                for p in self.params
            ],
            "result": self.result,
            "notifications": list(self.notifications),
            "available": self.available(services),
            "since": self.since,
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
    return {"protocol": PROTOCOL_VERSION, "minor": PROTOCOL_MINOR, "methods": methods}


# -- rpc -----------------------------------------------------------------------------------


def _describe(ctx: Context, p: dict[str, Any]) -> dict[str, Any]:
    return {"server": ctx.server_name, **describe(ctx.services)}


def _ping(ctx: Context, p: dict[str, Any]) -> dict[str, Any]:
    return {"echo": p.get("echo")}


def _hello(ctx: Context, p: dict[str, Any]) -> Any:  # pragma: no cover - the connection answers
    raise InputError("rpc.hello is answered by the connection itself")


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
            Param(
                name="structured",
                type="bool",
                required=False,
                doc="npc.done also carries an emotion and an action of the persona's own",
                since="1.1",
            ),
            Param(
                name="language",
                type="str",
                required=False,
                doc="the player's language: lines in and replies out are translated",
                since="1.1",
            ),
            Param(
                name="memory",
                type="bool",
                required=False,
                doc="long-term memory (default: on when the server has a memory store)",
                since="1.1",
            ),
        ),
        result="{id: str, name: str}",
        handler=npcs.load,
    ),
    Method(
        name="npc.unload",
        doc="Remove an NPC; its reply in progress is cancelled.",
        params=(Param(name="id", type="str"),),
        handler=npcs.unload,
    ),
    Method(
        name="npc.priority",
        doc="Who is served first: focused, nearby or background.",
        params=(Param(name="id", type="str"), Param(name="priority", type="str")),
        handler=npcs.set_priority,
    ),
    Method(
        name="npc.say",
        doc="The player says text to an NPC; the reply streams as npc.delta, then exactly "
        "one npc.done or npc.error.",
        params=(
            Param(name="npc", type="str", doc="the NPC's id"),
            Param(name="text", type="str", doc="what the player says"),
            Param(name="seed", type="int", required=False, doc="same seed, same reply"),
            Param(
                name="heard_by",
                type="[str]",
                required=False,
                doc="this client's NPCs within earshot: they remember the exchange",
                since="1.1",
            ),
            Param(
                name="priority",
                type="str",
                required=False,
                doc="set the NPC's priority first: focused | nearby | background",
                since="1.1",
            ),
        ),
        result="{stream: int}",
        notifications=_STREAM_NOTES,
        handler=npcs.say,
    ),
    Method(
        name="npc.cancel",
        doc="Stop a reply; it ends with npc.done (finish_reason cancelled).",
        params=(Param(name="stream", type="int", doc="stream id"),),
        result="{cancelled: bool}",
        handler=npcs.cancel,
    ),
    Method(
        name="npc.export",
        doc="A save blob of the NPCs' memory (all of this client's NPCs by default).",
        params=(Param(name="ids", type="[str]", required=False),),
        result="{blob: bin}",
        handler=npcs.export,
        needs="memory",
    ),
    Method(
        name="npc.import",
        doc="Restore NPC memory from a save blob; answers the NPC ids restored.",
        params=(Param(name="blob", type="bin"),),
        result="{ids: [str]}",
        handler=npcs.import_,
        needs="memory",
    ),
    Method(
        name="npc.prepare",
        doc="Read the NPC's persona into the model's cache now; answers when it is read.",
        params=(Param(name="id", type="str"),),
        handler=npcs.prepare,
        since="1.1",
    ),
    Method(
        name="npc.facts",
        doc="What the NPC knows: the newest fact of each kind, in the order learned.",
        params=(Param(name="id", type="str", doc="this client's NPC, or an id none loaded"),),
        result="{facts: [{kind: str, text: str, turn: int}]}",
        handler=npcs.facts,
        needs="memory",
        since="1.1",
    ),
    Method(
        name="npc.teach",
        doc="The NPC knows text from now on; a newer fact of the same kind replaces the older.",
        params=(
            Param(name="id", type="str", doc="this client's NPC, or an id none loaded"),
            Param(name="text", type="str", doc="the fact, in the persona's language"),
            Param(name="kind", type="str", doc="what it is about, e.g. quest.ore"),
        ),
        handler=npcs.teach,
        needs="memory",
        since="1.1",
    ),
    Method(
        name="npc.relationship",
        doc="How the NPC feels about the player, -1 to 1; adjust moves it first.",
        params=(
            Param(name="id", type="str", doc="this client's NPC, or an id none loaded"),
            Param(name="adjust", type="float", required=False, doc="-2 to 2, clamped to -1..1"),
        ),
        result="{relationship: float}",
        handler=npcs.relationship,
        needs="memory",
        since="1.1",
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


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))
