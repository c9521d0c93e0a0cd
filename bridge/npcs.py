"""Handlers of the ``npc.*`` methods: loading NPCs, their replies, their memory.

They act on one client's view of the server (:class:`NpcContext`): the NPCs it
loaded, its reply streams, and whether another client has loaded an id. A
client says, cancels, unloads, prepares and reprioritises only its own NPCs;
it exports, imports, reads and teaches its own or ids no client has loaded
(docs/PROTOCOL.md, §10.6). The method table is :mod:`bridge.methods`.
"""

from __future__ import annotations

import concurrent.futures
import math
import re
from pathlib import Path
from typing import Any, Protocol

from bridge.errors import BadParamsError, UnavailableError
from npc_ai.dialogue.interpret import Interpreter
from npc_ai.dialogue.npc import DialogueOptions
from npc_ai.dialogue.persona import Persona, load_persona, parse_persona
from npc_ai.errors import BackendError, InputError
from npc_ai.memory import NpcMemory, load_state
from npc_ai.runtime import Priority, ReplyDelta, ReplyDone, ReplyError, ReplyHandle, Runtime
from npc_ai.translation import Translator

__all__ = [
    "MAX_HEARD_BY",
    "NpcContext",
    "cancel",
    "done_params",
    "export",
    "facts",
    "import_",
    "load",
    "persona_file",
    "prepare",
    "relationship",
    "say",
    "set_priority",
    "teach",
    "unload",
]


class NpcContext(Protocol):
    """The part of a client's state these handlers use."""

    runtime: Runtime
    #: The NPCs this client loaded: id -> the runtime's id (the same: NPC ids are
    #: server-wide, since they name the NPC's memory in the store and in save blobs).
    npcs: dict[str, str]
    #: Replies of this client not yet ended, by stream id.
    streams: dict[int, ReplyHandle]
    #: This client's NPCs loaded with ``memory: false``.
    no_memory: set[str]
    persona_dirs: tuple[Path, ...]
    translator: Translator | None

    def notify(self, method: str, params: dict[str, Any]) -> None:
        """Queue a notification for this client."""

    def loaded_elsewhere(self, npc_id: str) -> bool:
        """Whether another client has loaded an NPC with this id."""


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


#: A language code as npc.load takes it ("es", "pt-BR", "zh_Hant").
_LANGUAGE = re.compile(r"[A-Za-z0-9_-]{2,16}")
#: Most NPCs one npc.say may name within earshot.
MAX_HEARD_BY = 64


def _interpreter(ctx: NpcContext, persona: Persona, language: str | None) -> Interpreter | None:
    """The interpreter between the player's ``language`` and the persona's, or None."""
    if language is None:
        return None
    if not _LANGUAGE.fullmatch(language):
        raise BadParamsError(
            f"npc.load: language must be a language code such as 'es' (2 to 16 letters, "
            f"digits, '-' or '_'), got {language[:40]!r}",
            param="language",
            expected="an ISO 639-1 code such as 'es'",
        )
    if ctx.translator is None:
        raise UnavailableError(
            "npc.load: this server has no translator, so it cannot talk in the player's "
            "language; load the NPC without 'language', or start the server with a translator "
            "(npc-ai serve --translator auto, with argos or apertium installed)",
            method="npc.load",
            param="language",
        )
    # A missing pair (either way) is MissingLanguagePairError (1701), listing the installed ones.
    return Interpreter(ctx.translator, player=language, npc=persona.language)


def _remember(ctx: NpcContext, memory: bool | None) -> bool:
    has_store = ctx.runtime.store is not None
    if memory and not has_store:
        raise UnavailableError(
            "npc.load: this server has no memory store, so an NPC cannot have long-term "
            "memory; load it without 'memory', or start the server with --memory PATH",
            method="npc.load",
            param="memory",
        )
    return has_store if memory is None else memory


def load(ctx: NpcContext, p: dict[str, Any]) -> dict[str, Any]:
    """``npc.load``: add an NPC from a persona (text, map or file)."""
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
    if ctx.loaded_elsewhere(npc_id):
        raise InputError(
            f"another client has loaded an NPC with id {npc_id!r}; ids are server-wide (an id "
            "names the NPC's memory), so give this one another id",
            id=npc_id,
            loaded_by="another client",
        )
    priority = _priority(p.get("priority"))
    remember = _remember(ctx, p.get("memory"))
    interpreter = _interpreter(ctx, persona, p.get("language"))
    dialogue = DialogueOptions(structured=True) if p.get("structured") else None
    # Another client's NPC of that id makes the runtime refuse (InputError, 1300).
    runtime_id = ctx.runtime.add_npc(
        persona,
        npc_id=npc_id,
        priority=priority,
        dialogue=dialogue,
        interpreter=interpreter,
        remember=remember,
    )
    ctx.npcs[npc_id] = runtime_id
    if not remember:
        ctx.no_memory.add(npc_id)
    return {"id": npc_id, "name": persona.name}


def _refuse_theirs(npc_id: str, doing: str) -> InputError:
    return InputError(
        f"NPC {npc_id!r} was loaded by another client; a client can {doing} only the NPCs it "
        "loaded (or ids no client has loaded)",
        id=npc_id,
        loaded_by="another client",
    )


def _npc(ctx: NpcContext, npc_id: str) -> str:
    try:
        return ctx.npcs[npc_id]
    except KeyError:
        if ctx.loaded_elsewhere(npc_id):
            raise _refuse_theirs(npc_id, "speak to or change") from None
        known = ", ".join(sorted(ctx.npcs)) or "none"
        raise InputError(
            f"no NPC with id {npc_id!r} (loaded by this client: {known}); npc.load it first",
            id=npc_id,
        ) from None


def _reachable(ctx: NpcContext, npc_id: str, doing: str) -> None:
    """Refuse an id another client loaded (this client's own and unloaded ids are fine)."""
    if npc_id not in ctx.npcs and ctx.loaded_elsewhere(npc_id):
        raise _refuse_theirs(npc_id, doing)


def unload(ctx: NpcContext, p: dict[str, Any]) -> dict[str, Any]:
    """``npc.unload``: remove one of this client's NPCs."""
    ctx.runtime.remove_npc(_npc(ctx, p["id"]))
    del ctx.npcs[p["id"]]
    ctx.no_memory.discard(p["id"])
    return {}


def set_priority(ctx: NpcContext, p: dict[str, Any]) -> dict[str, Any]:
    """``npc.priority``."""
    ctx.runtime.set_priority(_npc(ctx, p["id"]), _priority(p["priority"]))
    return {}


def _listeners(ctx: NpcContext, npc_id: str, heard_by: list[str]) -> list[str]:
    if len(heard_by) > MAX_HEARD_BY:
        raise BadParamsError(
            f"npc.say: heard_by names {len(heard_by)} NPCs; at most {MAX_HEARD_BY} can be "
            "within earshot of one line",
            param="heard_by",
            expected=f"at most {MAX_HEARD_BY} ids",
        )
    listeners: list[str] = []
    for other in heard_by:
        if other == npc_id or other in listeners:
            continue
        if other not in ctx.npcs and ctx.loaded_elsewhere(other):
            raise _refuse_theirs(other, "name in heard_by")
        listeners.append(_npc(ctx, other))
    return listeners


def done_params(event: ReplyDone, npc_id: str) -> dict[str, Any]:
    """The ``npc.done`` params of a reply's end (with emotion, action and args when structured)."""
    params: dict[str, Any] = {
        "stream": event.reply,
        "npc": npc_id,
        "text": event.text,
        "finish_reason": event.finish_reason,
    }
    if event.structured is not None:
        params["emotion"] = event.structured.emotion
        params["action"] = event.structured.action
        params["args"] = dict(event.structured.args)
    return params


def say(ctx: NpcContext, p: dict[str, Any]) -> dict[str, Any]:
    """``npc.say``: start a reply; its events become notifications to this client."""
    npc_id = p["npc"]
    runtime_id = _npc(ctx, npc_id)
    listeners = _listeners(ctx, npc_id, p.get("heard_by") or [])
    priority = _priority(p["priority"]) if "priority" in p else None

    def on_delta(event: ReplyDelta) -> None:
        ctx.notify("npc.delta", {"stream": event.reply, "text": event.text})

    def on_done(event: ReplyDone) -> None:
        ctx.streams.pop(event.reply, None)
        ctx.notify("npc.done", done_params(event, npc_id))

    def on_error(event: ReplyError) -> None:
        ctx.streams.pop(event.reply, None)
        ctx.notify(
            "npc.error", {"stream": event.reply, "npc": npc_id, "error": event.error.to_dict()}
        )

    if priority is not None:
        ctx.runtime.set_priority(runtime_id, priority)
    handle = ctx.runtime.say(
        runtime_id,
        p["text"],
        seed=p.get("seed"),
        on_delta=on_delta,
        on_done=on_done,
        on_error=on_error,
        heard_by=listeners,
    )
    ctx.streams[handle.id] = handle
    return {"stream": handle.id}


def cancel(ctx: NpcContext, p: dict[str, Any]) -> dict[str, Any]:
    """``npc.cancel``."""
    handle = ctx.streams.get(p["stream"])
    if handle is None or handle.done:
        return {"cancelled": False}
    handle.cancel()
    return {"cancelled": True}


def prepare(ctx: NpcContext, p: dict[str, Any]) -> concurrent.futures.Future[dict[str, Any]]:
    """``npc.prepare``: a future answered once the persona is read."""
    read = ctx.runtime.prepare(_npc(ctx, p["id"]))
    answer: concurrent.futures.Future[dict[str, Any]] = concurrent.futures.Future()

    def done(future: concurrent.futures.Future[None]) -> None:
        if future.cancelled():
            answer.set_exception(
                BackendError("the server stopped before the persona was read", id=p["id"])
            )
        elif (error := future.exception()) is not None:
            answer.set_exception(error)
        else:
            answer.set_result({})

    read.add_done_callback(done)
    return answer


def export(ctx: NpcContext, p: dict[str, Any]) -> dict[str, Any]:
    """``npc.export``: a save blob of this client's NPCs (or of ids it may reach)."""
    ids = p.get("ids")
    if ids is None:
        ids = sorted(i for i in ctx.npcs if i not in ctx.no_memory)
    for npc_id in ids:
        _reachable(ctx, npc_id, "export")
    return {"blob": ctx.runtime.export_memory(ids)}


def import_(ctx: NpcContext, p: dict[str, Any]) -> dict[str, Any]:
    """``npc.import``: refused whole when the blob holds another client's NPC."""
    # Read the ids first (a damaged blob is MemoryFormatError, 1501): refuse before changing.
    ids = sorted({saved.state.npc for saved in load_state(p["blob"])})
    theirs = [i for i in ids if i not in ctx.npcs and ctx.loaded_elsewhere(i)]
    if theirs:
        raise InputError(
            f"the save holds NPC{'s' if len(theirs) > 1 else ''} "
            f"{', '.join(repr(i) for i in theirs)} loaded by another client; a client can "
            "import only the NPCs it loaded (or ids no client has loaded); nothing was changed",
            ids=theirs,
            id=theirs[0],
            loaded_by="another client",
        )
    return {"ids": ctx.runtime.import_memory(p["blob"])}


def _memory(ctx: NpcContext, npc_id: str, doing: str) -> NpcMemory:
    """The long-term memory ``npc.facts``, ``npc.teach`` and ``npc.relationship`` act on."""
    if npc_id in ctx.no_memory:
        raise InputError(
            f"NPC {npc_id!r} was loaded with memory: false, so it has no long-term memory to "
            f"{doing}; load it with memory: true",
            id=npc_id,
        )
    if npc_id in ctx.npcs:
        return ctx.runtime.memory(ctx.npcs[npc_id])
    _reachable(ctx, npc_id, doing)
    store = ctx.runtime.store
    if store is None:  # pragma: no cover - find() refuses first (the method needs memory)
        raise UnavailableError("this server has no memory store")
    # An id no client has loaded: its memory in the store (e.g. from a save), read directly.
    return NpcMemory(store, npc_id)


def facts(ctx: NpcContext, p: dict[str, Any]) -> dict[str, Any]:
    """``npc.facts``."""
    facts = _memory(ctx, p["id"], "read").facts()
    return {"facts": [{"kind": key, "text": m.text, "turn": m.turn} for key, m in facts.items()]}


def teach(ctx: NpcContext, p: dict[str, Any]) -> dict[str, Any]:
    """``npc.teach``."""
    kind, text = p["kind"], p["text"]
    if not (0 < len(kind) <= 100 and kind.isprintable() and kind.strip() == kind):
        raise InputError(
            "npc.teach: kind names what the fact is about, e.g. 'quest.ore': 1 to 100 "
            "printable characters on one line, without leading or trailing spaces; got "
            f"{kind[:40]!r}",
            param="kind",
        )
    # The store checks the text (not blank, at most 8,000 characters) with InputError.
    _memory(ctx, p["id"], "teach").learn(kind, text)
    return {}


def relationship(ctx: NpcContext, p: dict[str, Any]) -> dict[str, Any]:
    """``npc.relationship``, moved by ``adjust`` first."""
    adjust = p.get("adjust")
    if adjust is not None and not (math.isfinite(adjust) and -2 <= adjust <= 2):
        raise BadParamsError(
            f"npc.relationship: adjust must be a finite number from -2 to 2, got {adjust!r}",
            param="adjust",
            expected="float in [-2, 2]",
        )
    memory = _memory(ctx, p["id"], "read or move the relationship of")
    if adjust is None:
        return {"relationship": float(memory.relationship)}
    return {"relationship": float(memory.adjust_relationship(float(adjust)))}
