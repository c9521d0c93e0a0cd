"""Tests for npc_ai.memory: the SQLite store, save blobs, damage, threads and SIGKILL."""

from __future__ import annotations

import dataclasses
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import zlib
from collections.abc import Iterator
from pathlib import Path

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from npc_ai import memory as memory_package
from npc_ai.errors import InputError, MemoryFormatError, MemoryStoreError, NpcAiError
from npc_ai.memory import blob as blob_module
from npc_ai.memory import store as store_module
from npc_ai.memory.blob import (
    FORMAT_NAME,
    FORMAT_VERSION,
    MAX_BLOB_BYTES,
    MAX_BLOB_MEMORIES,
    SavedNpc,
    blob_version,
    dump_state,
    load_state,
)
from npc_ai.memory.records import MAX_TEXT_CHARS, Memory, NewMemory, NpcState
from npc_ai.memory.store import SCHEMA_VERSION, MemoryStore, StoreOptions

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parent / "data"
GOLDEN_V1 = DATA / "memory_v1.blob"
GOLDEN_V1_RAW = DATA / "memory_v1_raw.blob"


def heard(text: str, turn: int = 0, **fields: object) -> NewMemory:
    return NewMemory(kind="heard", text=text, speaker="player", turn=turn, **fields)  # type: ignore[arg-type]


def fact(key: str, text: str, **fields: object) -> NewMemory:
    return NewMemory(kind="fact", text=text, key=key, **fields)  # type: ignore[arg-type]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[MemoryStore]:
    with MemoryStore(tmp_path / "memory.sqlite3") as opened:
        yield opened


# -- public surface -------------------------------------------------------------------------


def test_all_is_pinned() -> None:
    # the package also re-exports retrieval and the NPC memory layer; these are the store's
    assert set(memory_package.__all__) >= set(
        [
            "FORMAT_VERSION",
            "KINDS",
            "Memory",
            "MemoryFormatError",
            "MemoryStore",
            "MemoryStoreError",
            "NewMemory",
            "NpcState",
            "SavedNpc",
            "StoreOptions",
            "dump_state",
            "load_state",
        ]
    )
    assert sorted(store_module.__all__) == sorted(
        ["SCHEMA_VERSION", "Memory", "MemoryStore", "NewMemory", "NpcState", "StoreOptions"]
    )
    assert sorted(blob_module.__all__) == sorted(
        [
            "FORMAT_NAME",
            "FORMAT_VERSION",
            "MAX_BLOB_BYTES",
            "MAX_BLOB_EXTRA_ITEMS",
            "MAX_BLOB_MEMORIES",
            "MAX_BLOB_NPCS",
            "SavedNpc",
            "blob_version",
            "dump_state",
            "load_state",
        ]
    )
    assert issubclass(MemoryFormatError, MemoryStoreError)
    assert issubclass(MemoryStoreError, NpcAiError)
    assert (MemoryStoreError.code, MemoryFormatError.code) == (1500, 1501)
    assert MemoryFormatError.fault == "remote"


# -- memories -------------------------------------------------------------------------------


def test_add_numbers_each_npc_from_one_and_returns_what_is_stored(store: MemoryStore) -> None:
    first = store.add("smith", [heard("Hello", 1, time=2.5), heard("Bye", 2)])
    other = store.add("guard", [heard("Halt", 1)])
    more = store.add("smith", [NewMemory(kind="said", text="Hi", speaker="smith", turn=1)])
    assert [m.id for m in first] == [1, 2]
    assert [m.id for m in other] == [1]
    assert [m.id for m in more] == [3]
    assert first[0] == Memory(
        id=1, npc="smith", kind="heard", text="Hello", speaker="player", turn=1, time=2.5
    )
    assert store.memories("smith") == first + more
    assert isinstance(store.memories("smith")[0].time, float)
    assert store.add("smith", []) == []


def test_memories_filters_pages_and_takes_the_newest(store: MemoryStore) -> None:
    kinds = ["heard", "said", "fact", "summary"] * 5
    added = store.add("smith", [NewMemory(kind=k, text=f"m{i}") for i, k in enumerate(kinds)])
    assert [m.id for m in store.memories("smith", kinds={"fact"})] == [3, 7, 11, 15, 19]
    assert [m.id for m in store.memories("smith", kinds=["heard", "said"], after_id=12)] == [
        13,
        14,
        17,
        18,
    ]
    assert [m.id for m in store.memories("smith", limit=3)] == [1, 2, 3]
    assert [m.id for m in store.memories("smith", limit=3, newest=True)] == [18, 19, 20]
    assert store.memories("smith", kinds=()) == []
    assert store.memories("nobody") == []
    assert store.count("smith") == len(added)
    assert store.count("smith", kinds={"said"}, after_id=10) == 2
    with pytest.raises(InputError, match="collection"):
        store.memories("smith", kinds="fact")
    with pytest.raises(InputError, match="unknown memory kinds"):
        store.memories("smith", kinds={"seen"})
    with pytest.raises(InputError, match="limit"):
        store.memories("smith", limit=-1)


@pytest.mark.parametrize(
    ("record", "message"),
    [
        (NewMemory(kind="seen", text="x"), "kind must be one of"),
        (NewMemory(kind="heard", text="   "), "text must not be empty"),
        (NewMemory(kind="heard", text="x" * (MAX_TEXT_CHARS + 1)), "limit is 8000"),
        (NewMemory(kind="heard", text="bad \ud800"), "surrogate"),
        (NewMemory(kind="heard", text="x", turn=True), "turn must be an integer"),
        (NewMemory(kind="heard", text="x", turn=-1), "turn must be 0"),
        (NewMemory(kind="heard", text="x", time=float("nan")), "time must be a finite"),
        (NewMemory(kind="heard", text="x", importance="high"), "importance must be a number"),  # type: ignore[arg-type]
        (NewMemory(kind="heard", text="x", source="rumour"), "source must be"),
        (NewMemory(kind="heard", text="x", source="told:"), "must not be empty"),
        (NewMemory(kind="heard", text="x", speaker="a\nb"), "one line"),
        (NewMemory(kind="fact", text="x", key=" player"), "leading or trailing"),
    ],
)
def test_a_bad_record_writes_nothing(store: MemoryStore, record: NewMemory, message: str) -> None:
    store.add("smith", [heard("kept")])
    with pytest.raises(InputError, match=message) as info:
        store.add("smith", [heard("fine"), record])
    assert "record 1" in str(info.value)
    assert [m.text for m in store.memories("smith")] == ["kept"]
    assert store.add("smith", [heard("next")])[0].id == 2


def test_bad_arguments_are_input_errors(store: MemoryStore) -> None:
    with pytest.raises(InputError, match="a list, even for one"):
        store.add("smith", heard("x"))  # type: ignore[arg-type]
    for npc in ("", " smith", "a\tb", 7):
        with pytest.raises(InputError, match="NPC id"):
            store.add(npc, [heard("x")])  # type: ignore[arg-type]
    with pytest.raises(InputError, match="ids must be"):
        store.forget("smith", 3)  # type: ignore[arg-type]
    with pytest.raises(InputError, match="synchronous"):
        MemoryStore(options=StoreOptions(synchronous="off"))


def test_told_and_earshot_sources_and_memory_written_on(store: MemoryStore) -> None:
    [told] = store.add("smith", [heard("The mine flooded.", source="told:guard")])
    [copied] = store.add("guard", [told])  # a Memory is a NewMemory: it gets the guard's numbering
    assert (copied.npc, copied.id, copied.source) == ("guard", 1, "told:guard")
    assert store.add("smith", [heard("psst", source="earshot:innkeeper")])[0].id == 2


def test_facts_keep_the_newest_per_key_in_learning_order(store: MemoryStore) -> None:
    store.add("smith", [fact("player.name", "The player is Ada."), fact("player.horse", "Pepper")])
    store.add("smith", [fact("", "Iron is dear this year."), heard("I'm Bea now")])
    store.add("smith", [fact("player.name", "The player is Bea.")])
    facts = store.facts("smith")
    assert list(facts) == ["player.horse", "player.name"]
    assert facts["player.name"].text == "The player is Bea."
    assert facts["player.name"].id == 5
    assert len(store.memories("smith", kinds={"fact"})) == 4  # superseded and unkeyed stay
    assert store.facts("nobody") == {}


def test_forget_counts_and_never_reuses_ids(store: MemoryStore) -> None:
    store.add("smith", [heard(f"line {i}") for i in range(5)])
    assert store.forget("smith", [4, 5, 5, 99]) == 2
    assert store.forget("guard", [1]) == 0
    assert store.forget("smith", []) == 0
    assert [m.id for m in store.memories("smith")] == [1, 2, 3]
    assert store.add("smith", [heard("again")])[0].id == 6


# -- state ----------------------------------------------------------------------------------


def test_state_defaults_updates_and_clamps(store: MemoryStore) -> None:
    assert store.state("smith") == NpcState(npc="smith")
    assert store.npcs() == []  # reading does not create
    store.add("smith", [heard("a"), heard("b")])
    new = store.update_state("smith", turn=3, relationship=4.5, summary="Met Ada.")
    assert new == NpcState(npc="smith", turn=3, relationship=1.0, summary="Met Ada.")
    assert store.update_state("smith", relationship=-0.25, summary_until=2).relationship == -0.25
    assert store.state("smith") == NpcState(
        npc="smith", turn=3, relationship=-0.25, summary="Met Ada.", summary_until=2
    )
    assert store.update_state("smith") == store.state("smith")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"mood": 1}, "no field"),
        ({"npc": "x"}, "no field"),
        ({"turn": -1}, "turn must be 0"),
        ({"relationship": float("inf")}, "finite"),
        ({"summary": 5}, "summary must be a string"),
        ({"summary_until": 3}, "past the last memory id"),
        ({"extra": {"a": object()}}, "msgpack-able"),
        ({"extra": {1: "a"}}, "string keys"),
        ({"extra": {"a": "x" * 70_000}}, "limit"),
        ({"extra": [1]}, "mapping"),
    ],
)
def test_bad_state_changes_change_nothing(
    store: MemoryStore, changes: dict[str, object], message: str
) -> None:
    store.add("smith", [heard("a")])
    before = store.update_state("smith", turn=1, extra={"quest": "ring"})
    with pytest.raises(InputError, match=message):
        store.update_state("smith", **{"summary": "changed", **changes})
    assert store.state("smith") == before


def test_extra_is_a_copy(store: MemoryStore) -> None:
    state = store.update_state("smith", extra={"quests": ["ring"], "gold": 3})
    state.extra["quests"].append("sword")  # type: ignore[index]
    assert store.state("smith").extra == {"quests": ["ring"], "gold": 3}
    assert store.update_state("smith", extra={"pair": (1, 2)}).extra == {"pair": [1, 2]}


def test_npcs_and_clear(store: MemoryStore) -> None:
    store.add("smith", [heard("a")])
    store.update_state("guard", turn=2)
    store.add("innkeeper", [heard("b"), heard("c")])
    assert store.npcs() == ["guard", "innkeeper", "smith"]
    store.clear("innkeeper")
    assert store.npcs() == ["guard", "smith"]
    assert store.add("innkeeper", [heard("new")])[0].id == 1  # numbering starts over
    store.clear()
    assert store.npcs() == []
    assert store.memories("smith") == []


# -- saves ----------------------------------------------------------------------------------


def test_import_replaces_those_npcs_and_rolls_memory_back(store: MemoryStore) -> None:
    store.add("smith", [heard("Hello", 1), fact("player.name", "Ada")])
    store.add("guard", [heard("Halt", 1)])
    store.update_state("smith", turn=1, relationship=0.5, summary_until=1, extra={"q": 1})
    save = store.export(["smith"])
    before = store.memories("smith")
    store.add("smith", [heard("Later", 2), fact("player.name", "Bea")])
    store.update_state("smith", turn=2, relationship=-1)
    store.add("guard", [heard("Later too", 2)])
    assert store.import_(save) == ["smith"]
    assert store.memories("smith") == before
    assert store.state("smith") == NpcState(
        npc="smith", turn=1, relationship=0.5, summary_until=1, extra={"q": 1}
    )
    assert store.facts("smith")["player.name"].text == "Ada"
    assert len(store.memories("guard")) == 2  # not in the save: untouched
    assert store.add("smith", [heard("next")])[0].id == 3  # numbering as it was at the save


def test_import_keeps_numbering_past_forgotten_memories(store: MemoryStore) -> None:
    store.add("smith", [heard(f"l{i}") for i in range(4)])
    store.forget("smith", [3, 4])
    save = store.export()
    store.clear()
    store.import_(save)
    assert store.add("smith", [heard("next")])[0].id == 5


def test_import_into_another_store_is_identical(store: MemoryStore, tmp_path: Path) -> None:
    store.add("smith", [heard("Hello", 1, time=12.25, importance=0.5), fact("k", "v")])
    store.add("guard", [NewMemory(kind="summary", text="Quiet night.", turn=4)])
    store.update_state("guard", summary="Quiet.", summary_until=1, relationship=-0.3)
    save = store.export()
    with MemoryStore(tmp_path / "other.sqlite3") as other:
        other.add("guard", [heard("something else")])
        assert other.import_(save) == ["guard", "smith"]
        for npc in ("guard", "smith"):
            assert other.memories(npc) == store.memories(npc)
            assert other.state(npc) == store.state(npc)
        assert other.export() == save


def test_import_merge_and_clear_others(store: MemoryStore) -> None:
    store.add("smith", [heard("smith saved")])
    store.add("guard", [heard("guard saved")])
    save = store.export()
    store.clear("guard")
    store.add("smith", [heard("smith later")])
    store.add("innkeeper", [heard("met after the save")])
    assert store.import_(save, replace=False) == ["guard"]  # smith is known: left alone
    assert [m.text for m in store.memories("smith")] == ["smith saved", "smith later"]
    assert [m.text for m in store.memories("guard")] == ["guard saved"]
    assert store.import_(save, clear_others=True) == ["guard", "smith"]
    assert store.npcs() == ["guard", "smith"]
    assert [m.text for m in store.memories("smith")] == ["smith saved"]


def test_exporting_an_unknown_npc_saves_it_empty(store: MemoryStore) -> None:
    save = store.export(["smith"])
    store.add("smith", [heard("met later")])
    assert store.import_(save) == ["smith"]
    assert store.memories("smith") == []
    assert store.npcs() == []


def test_a_bad_blob_changes_nothing(store: MemoryStore) -> None:
    store.add("smith", [heard("a"), heard("b")])
    save = store.export()
    store.add("smith", [heard("c")])
    snapshot = store.export()
    for bad in (save[:-3], save + b"\x00", b"", b"PK\x03\x04", save[:20]):
        with pytest.raises(MemoryFormatError):
            store.import_(bad)
        assert store.export() == snapshot


def test_a_newer_blob_names_both_versions() -> None:
    body = msgpack.packb([], use_bin_type=True)
    newer = msgpack.packb([FORMAT_NAME, 3, 0, body, "new field"], use_bin_type=True)
    with pytest.raises(MemoryFormatError) as info:
        load_state(newer)
    assert str(info.value).startswith(
        f"saved by a newer npc-ai (memory format 3); this version reads up to {FORMAT_VERSION}"
    )
    assert info.value.data == {"version": 3, "supported": FORMAT_VERSION}
    assert blob_version(dump_state([])) == FORMAT_VERSION
    with pytest.raises(MemoryFormatError, match="not an npc-ai memory save"):
        blob_version(msgpack.packb(["other-format", 1]))


def test_blob_decoding_is_bounded() -> None:
    with pytest.raises(MemoryFormatError, match="limit"):
        load_state(b"\x00" * (MAX_BLOB_BYTES + 1))
    bomb = zlib.compress(b"\x00" * (MAX_BLOB_BYTES + 10), 9)
    with pytest.raises(MemoryFormatError, match="expands past"):
        load_state(msgpack.packb([FORMAT_NAME, 1, 1, bomb], use_bin_type=True))
    # An array of 100,000 empty maps where NPC fields belong: refused, nothing is built.
    body = b"\x91\x98" + b"\xa5smith" + b"\xdc\x86\xa0" + b"\x80" * 100_000
    with pytest.raises(MemoryFormatError):
        load_state(msgpack.packb([FORMAT_NAME, 1, 0, body], use_bin_type=True))
    with pytest.raises(MemoryFormatError, match="must be bytes"):
        load_state("text")  # type: ignore[arg-type]


def test_blob_counts_are_capped(monkeypatch: pytest.MonkeyPatch) -> None:
    # The smallest valid memory is 11 bytes: the count cap, not the byte cap, bounds the objects.
    record = [1, 0, "a", "", 0, 0, "", "", 0]
    count = MAX_BLOB_MEMORIES + 1
    npc = ["smith", count + 1, 0, 0, "", 0, msgpack.packb({}), [record] * count]
    body = msgpack.packb([npc], use_bin_type=True)
    blob = msgpack.packb([FORMAT_NAME, 1, 1, zlib.compress(body)], use_bin_type=True)
    with pytest.raises(MemoryFormatError, match=f"more than {MAX_BLOB_MEMORIES} memories"):
        load_state(blob)
    many = msgpack.packb([FORMAT_NAME, 1, 0, b"\xdd\x00\x01\x00\x00"], use_bin_type=True)
    with pytest.raises(MemoryFormatError, match="claims 65536 NPCs"):
        load_state(many)
    # 32 MiB could hold millions of one-byte empty maps in extras; the item cap stops them.
    extra = msgpack.packb({"k": [{}] * 60_000})
    npcs = [[f"n{i}", 1, 0, 0, "", 0, extra, []] for i in range(2)]
    body = msgpack.packb(npcs, use_bin_type=True)
    blob = msgpack.packb([FORMAT_NAME, 1, 0, body], use_bin_type=True)
    with pytest.raises(MemoryFormatError, match="items in extra maps"):
        load_state(blob)
    assert len(load_state(msgpack.packb([FORMAT_NAME, 1, 0, msgpack.packb(npcs[:1])]))) == 1
    monkeypatch.setattr(blob_module, "MAX_BLOB_MEMORIES", 3)
    saved = [
        SavedNpc(
            state=NpcState(npc=n),
            memories=tuple(Memory(id=i, npc=n, kind="heard", text="x") for i in (1, 2)),
            next_id=3,
        )
        for n in "ab"
    ]
    assert load_state(dump_state(saved[:1])) == saved[:1]
    with pytest.raises(InputError, match="at most"):
        dump_state(saved)


def test_dump_state_refuses_what_it_could_not_load() -> None:
    state = NpcState(npc="smith")
    good = Memory(id=2, npc="smith", kind="heard", text="x")
    with pytest.raises(InputError, match="increase"):
        dump_state([SavedNpc(state=state, memories=(good, good), next_id=3)])
    with pytest.raises(InputError, match="below next_id"):
        dump_state([SavedNpc(state=state, memories=(good,), next_id=2)])
    with pytest.raises(InputError, match="appears twice"):
        dump_state([SavedNpc(state=state), SavedNpc(state=state)])
    with pytest.raises(InputError, match="kind"):
        dump_state(
            [
                SavedNpc(
                    state=state,
                    memories=(Memory(id=1, npc="smith", kind="x", text="y"),),
                    next_id=2,
                )
            ]
        )


def golden_npcs() -> list[SavedNpc]:
    """The content of tests/data/memory_v1.blob (written by npc-ai 0.1.0, format 1)."""
    smith = [
        Memory(id=1, npc="smith", kind="heard", text="Can you mend my sword?", speaker="player",
               turn=1, time=12.5),
        Memory(id=2, npc="smith", kind="said", text="Aye, for three silver.", speaker="smith",
               turn=1, time=14.0, importance=0.25),
        Memory(id=4, npc="smith", kind="fact", text="The player is called Ada.", turn=2,
               time=30.0, key="player.name", importance=1.0),
        Memory(id=5, npc="smith", kind="heard", text="Der Wächter sagt: ¡hola! 鍛冶屋 🔥",
               speaker="guard", turn=3, time=-1.5, source="earshot:guard"),
        Memory(id=6, npc="smith", kind="summary", text="Ada brought a broken sword.", turn=3,
               time=1e9 + 0.125, source="told:innkeeper", importance=-0.0),
    ]  # fmt: skip
    guard = [
        Memory(id=i, npc="guard", kind="heard" if i % 2 else "said",
               text=f"Watch report {i}: the north road is quiet, the gate is shut at dusk.",
               speaker="player" if i % 2 else "guard", turn=i // 2, time=60.0 * i)
        for i in range(1, 31)
    ]  # fmt: skip
    return [
        SavedNpc(
            state=NpcState(npc="smith", turn=3, relationship=-0.375, summary="Ada, a sword.",
                           summary_until=2, extra={"quest": "sword", "paid": [1, 2.5, None]}),
            memories=tuple(smith),
            next_id=8,
        ),
        SavedNpc(state=NpcState(npc="guard", turn=15), memories=tuple(guard), next_id=31),
    ]  # fmt: skip


def golden_small() -> list[SavedNpc]:
    """The content of tests/data/memory_v1_raw.blob: small enough to be stored uncompressed."""
    smith = golden_npcs()[0]
    return [dataclasses.replace(smith, memories=smith.memories[:2])]


def test_golden_v1_blobs_keep_loading() -> None:
    # Future versions must keep a reader for format 1: never regenerate these files.
    assert load_state(GOLDEN_V1.read_bytes()) == golden_npcs()
    assert load_state(GOLDEN_V1_RAW.read_bytes()) == golden_small()
    assert msgpack.unpackb(GOLDEN_V1.read_bytes())[:3] == [FORMAT_NAME, 1, 1]  # zlib
    assert msgpack.unpackb(GOLDEN_V1_RAW.read_bytes())[:3] == [FORMAT_NAME, 1, 0]  # as is


@pytest.mark.skipif(FORMAT_VERSION != 1, reason="the writer moved on; the reader test stays")
def test_the_writer_still_writes_v1_byte_for_byte() -> None:
    # The compressed body is compared after inflating: zlib builds and levels may differ.
    def inflated(blob: bytes) -> list[object]:
        name, version, codec, body = msgpack.unpackb(blob)
        return [name, version, zlib.decompress(body) if codec == 1 else body]

    assert inflated(dump_state(golden_npcs())) == inflated(GOLDEN_V1.read_bytes())
    assert dump_state(golden_small()) == GOLDEN_V1_RAW.read_bytes()


# -- property and fuzz tests for blobs --------------------------------------------------------

_ids = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_.-", min_size=1, max_size=12)
_texts = st.text(min_size=1, max_size=40).filter(lambda t: bool(t.strip()))
_finite = st.floats(allow_nan=False, allow_infinity=False)
_sources = st.one_of(
    st.just(""), st.tuples(st.sampled_from(["told:", "earshot:"]), _ids).map("".join)
)
_extra_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(2**63), 2**64 - 1),
        _finite,
        st.text(max_size=8),
        st.binary(max_size=8),
    ),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner),
    max_leaves=6,
)


@st.composite
def _saved_npcs(draw: st.DrawFn) -> list[SavedNpc]:
    names = draw(st.lists(_ids, max_size=4, unique=True))
    out = []
    for npc in names:
        ids = sorted(draw(st.sets(st.integers(1, 10_000), max_size=8)))
        memories = tuple(
            Memory(
                id=i,
                npc=npc,
                kind=draw(st.sampled_from(["heard", "said", "fact", "summary"])),
                text=draw(_texts),
                speaker=draw(st.one_of(st.just(""), st.just("player"), _ids)),
                turn=draw(st.integers(0, 2**63 - 1)),
                time=draw(_finite),
                key=draw(st.one_of(st.just(""), _ids)),
                source=draw(_sources),
                importance=draw(_finite),
            )
            for i in ids
        )
        next_id = (ids[-1] if ids else 0) + draw(st.integers(1, 5))
        state = NpcState(
            npc=npc,
            turn=draw(st.integers(0, 2**63 - 1)),
            relationship=draw(st.floats(-1, 1)),
            summary=draw(st.text(max_size=40)),
            summary_until=draw(st.integers(0, next_id - 1)),
            extra=draw(st.dictionaries(st.text(max_size=5), _extra_values, max_size=4)),
        )
        out.append(SavedNpc(state=state, memories=memories, next_id=next_id))
    return out


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_saved_npcs())
def test_round_trip_through_blob_and_store(npcs: list[SavedNpc]) -> None:
    blob = dump_state(npcs)
    assert load_state(blob) == npcs
    with MemoryStore() as first, MemoryStore() as second:
        first.import_(blob)
        exported = first.export()
        second.import_(exported)
        assert second.export() == exported
        for saved in npcs:
            npc = saved.state.npc
            assert second.memories(npc) == list(saved.memories)
            assert second.state(npc) == saved.state
        # an NPC saved before it knew anything is unknown again after the import
        known = [s for s in npcs if s.next_id > 1 or s.state != NpcState(npc=s.state.npc)]
        assert load_state(exported) == sorted(known, key=lambda s: s.state.npc)


def _real_blobs() -> list[bytes]:
    return [GOLDEN_V1_RAW.read_bytes(), GOLDEN_V1.read_bytes()]


def _only_format_errors(data: bytes) -> None:
    try:
        result = load_state(data)
    except MemoryFormatError:
        return
    assert all(isinstance(s, SavedNpc) for s in result)


def test_every_truncation_of_a_real_blob_is_refused() -> None:
    for blob in _real_blobs():
        for cut in range(len(blob)):
            with pytest.raises(MemoryFormatError):
                load_state(blob[:cut])


@settings(max_examples=400, deadline=None)
@given(st.data())
def test_fuzz_bit_flips_and_garbage_give_a_load_or_a_format_error(data: st.DataObject) -> None:
    blob = bytearray(data.draw(st.sampled_from(_real_blobs())))
    for _ in range(data.draw(st.integers(1, 4))):
        position = data.draw(st.integers(0, len(blob) - 1))
        blob[position] ^= 1 << data.draw(st.integers(0, 7))
    _only_format_errors(bytes(blob))
    _only_format_errors(data.draw(st.binary(max_size=200)))
    prefix = data.draw(st.integers(0, len(blob)))
    _only_format_errors(bytes(blob[:prefix]) + data.draw(st.binary(max_size=50)))


def test_fuzz_a_damaged_blob_never_half_imports(tmp_path: Path) -> None:
    rng = random.Random(7)
    raw = GOLDEN_V1_RAW.read_bytes()
    with MemoryStore(tmp_path / "m.sqlite3") as store:
        store.add("smith", [heard("before")])
        store.add("other", [heard("untouched")])
        snapshot = store.export()
        for _ in range(300):
            blob = bytearray(raw)
            blob[rng.randrange(len(blob))] ^= 1 << rng.randrange(8)
            try:
                store.import_(bytes(blob), clear_others=True)
            except MemoryFormatError:
                assert store.export() == snapshot
            else:
                store.clear()
                store.import_(snapshot)


# -- the database file ----------------------------------------------------------------------


def _filled(path: Path, count: int = 2000) -> None:
    with MemoryStore(path) as store:
        store.add("smith", [heard(f"line {i} " + "words " * 20) for i in range(count)])


def test_garbage_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "memory.sqlite3"
    path.write_bytes(os.urandom(8192))
    with pytest.raises(MemoryStoreError, match="not an SQLite database") as info:
        MemoryStore(path)
    assert info.value.data["path"] == str(path)
    assert path.read_bytes() != b""  # left as it was for the player to recover


def test_truncated_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "memory.sqlite3"
    _filled(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(MemoryStoreError, match="damaged"):
        MemoryStore(path)


def test_overwritten_pages_are_found_on_open(tmp_path: Path) -> None:
    path = tmp_path / "memory.sqlite3"
    _filled(path)
    data = bytearray(path.read_bytes())
    data[8192:16384] = os.urandom(8192)
    path.write_bytes(bytes(data))
    with pytest.raises(MemoryStoreError, match="damaged"):
        MemoryStore(path)


def test_newer_schema_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "memory.sqlite3"
    _filled(path, 1)
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    with pytest.raises(MemoryStoreError, match="newer npc-ai") as info:
        MemoryStore(path)
    assert f"schema {SCHEMA_VERSION + 1}" in str(info.value)


def test_another_programs_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "game.sqlite3"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE scores (name TEXT)")
    with pytest.raises(MemoryStoreError, match="not an npc-ai memory database"):
        MemoryStore(path)


def test_a_write_held_up_by_another_connection_fails_clearly(tmp_path: Path) -> None:
    path = tmp_path / "m.sqlite3"
    with MemoryStore(path, options=StoreOptions(busy_timeout=0.1)) as store:
        store.add("smith", [heard("kept")])
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        try:
            with pytest.raises(MemoryStoreError, match="try again") as info:
                store.add("smith", [heard("blocked")])
            assert info.value.data["sqlite_error"] == "OperationalError"
            assert [m.text for m in store.memories("smith")] == ["kept"]  # readers still read
        finally:
            other.execute("ROLLBACK")
            other.close()
        assert store.add("smith", [heard("later")])[0].id == 2


def test_rows_damaged_inside_the_file_are_reported_not_saved(tmp_path: Path) -> None:
    path = tmp_path / "m.sqlite3"
    with MemoryStore(path) as store:
        store.add("smith", [heard("a")])
        store.update_state("guard", turn=1)
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE npc SET extra = x'c1' WHERE npc = 'guard'")
        conn.execute("UPDATE memory SET kind = 'seen' WHERE npc = 'smith'")
    conn.close()
    with MemoryStore(path) as store:
        with pytest.raises(MemoryStoreError, match="extra map of 'guard' is damaged"):
            store.state("guard")
        with pytest.raises(MemoryStoreError, match="cannot be saved: kind must be one of"):
            store.export(["smith"])


def test_missing_folder_and_closed_store(tmp_path: Path) -> None:
    with pytest.raises(MemoryStoreError, match="does its folder exist"):
        MemoryStore(tmp_path / "no" / "such" / "memory.sqlite3")
    store = MemoryStore(tmp_path / "m.sqlite3")
    store.close()
    store.close()
    with pytest.raises(MemoryStoreError, match="closed"):
        store.memories("smith")


def test_schema_wal_and_reopen(tmp_path: Path) -> None:
    path = tmp_path / "memory.sqlite3"
    with MemoryStore(path) as store:
        store.add("smith", [heard("kept")])
        conn = sqlite3.connect(path)
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        indexes = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='index'")}
        assert "memory_npc_kind" in indexes
        conn.close()
    with MemoryStore(path, options=StoreOptions(synchronous="full")) as again:
        assert [m.text for m in again.memories("smith")] == ["kept"]


# -- threads --------------------------------------------------------------------------------


def test_threads_writing_at_once_lose_nothing(tmp_path: Path) -> None:
    rounds, threads = 60, 8
    with MemoryStore(tmp_path / "m.sqlite3") as store:
        errors: list[BaseException] = []

        def work(k: int) -> None:
            try:
                for i in range(rounds):
                    store.add(f"npc{k}", [heard(f"{k}:{i}")])
                    store.add("crowd", [heard(f"{k}:{i}:a"), heard(f"{k}:{i}:b")])
                    store.update_state(f"npc{k}", turn=i)
                    store.memories("crowd", limit=5, newest=True)
            except BaseException as exc:  # reported below
                errors.append(exc)

        workers = [threading.Thread(target=work, args=(k,)) for k in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        assert errors == []
        crowd = store.memories("crowd")
        assert [m.id for m in crowd] == list(range(1, 2 * rounds * threads + 1))
        assert {m.text for m in crowd} == {
            f"{k}:{i}:{s}" for k in range(threads) for i in range(rounds) for s in "ab"
        }
        for m in range(0, len(crowd), 2):  # one add() is one transaction: a pair stays together
            assert crowd[m].text[:-1] == crowd[m + 1].text[:-1]
        for k in range(threads):
            assert [m.text for m in store.memories(f"npc{k}")] == [
                f"{k}:{i}" for i in range(rounds)
            ]
            assert store.state(f"npc{k}").turn == rounds - 1


def test_several_stores_on_one_file(tmp_path: Path) -> None:
    path = tmp_path / "m.sqlite3"
    MemoryStore(path).close()
    stores = [MemoryStore(path) for _ in range(4)]

    def work(k: int) -> None:
        for i in range(40):
            stores[k].add("shared", [heard(f"{k}:{i}")])

    workers = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    ids = [m.id for m in stores[0].memories("shared")]
    assert ids == list(range(1, 161))
    for s in stores:
        s.close()


# -- SIGKILL --------------------------------------------------------------------------------

_WRITER = """
import random, sys
from npc_ai.memory import MemoryStore, NewMemory
store = MemoryStore(sys.argv[1])
rng = random.Random(int(sys.argv[2]))
i = 0
while True:
    npc = "npc%d" % rng.randrange(3)
    batch = [NewMemory(kind="heard", text="line %d %s" % (i + j, "x" * rng.randrange(400)),
                       speaker="player", turn=i + j) for j in range(rng.randrange(1, 40))]
    i += len(batch)
    added = store.add(npc, batch)
    print(npc, " ".join(str(m.id) for m in added), flush=True)
"""

_IMPORTER = """
import sys
from npc_ai.memory import MemoryStore
store = MemoryStore(sys.argv[1])
blobs = [open(p, "rb").read() for p in sys.argv[2:]]
n = 0
while True:
    store.import_(blobs[n % 2])
    print(n % 2, flush=True)
    n += 1
"""


def _run_until(code: str, args: list[str], lines: int) -> list[str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(
        [sys.executable, "-c", code, *args], stdout=subprocess.PIPE, text=True, env=env
    )
    assert proc.stdout is not None
    watchdog = threading.Timer(120, proc.kill)  # a hung writer fails the test, never hangs it
    watchdog.start()
    seen = []
    try:
        for _ in range(lines):
            line = proc.stdout.readline()
            assert line, "the writer stopped early"
            seen.append(line)
    finally:
        proc.send_signal(signal.SIGKILL)
        rest, _ = proc.communicate()
        watchdog.cancel()
    assert proc.returncode == -signal.SIGKILL
    return seen + rest.splitlines(keepends=True)


def _integrity(path: Path) -> str:
    conn = sqlite3.connect(path)
    try:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        conn.close()


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_sigkill_during_writes_loses_no_committed_memory(tmp_path: Path, seed: int) -> None:
    path = tmp_path / "m.sqlite3"
    printed = _run_until(_WRITER, [str(path), str(seed)], 60 + 70 * seed)
    assert _integrity(path) == "ok"
    committed: dict[str, set[int]] = {}
    for line in printed:
        if line.endswith("\n"):  # a line cut by the kill proves nothing
            npc, *numbers = line.split()
            committed.setdefault(npc, set()).update(int(i) for i in numbers)
    with MemoryStore(path) as store:
        for npc, ids in committed.items():
            present = {m.id for m in store.memories(npc)}
            assert ids <= present
            # anything beyond the printed ids is whole commits: numbering has no holes
            assert present == set(range(1, max(present) + 1))
        store.add("npc0", [heard("still writable")])


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")
def test_sigkill_during_imports_leaves_one_whole_save(tmp_path: Path) -> None:
    path = tmp_path / "m.sqlite3"
    saves = []
    with MemoryStore() as source:
        for n in range(2):
            source.clear()
            for npc in ("a", "b", "c"):
                source.add(npc, [heard(f"save {n} {npc} {i} " + "y" * 300) for i in range(300)])
            saves.append(source.export())
    files = []
    for n, blob in enumerate(saves):
        files.append(tmp_path / f"save{n}.blob")
        files[-1].write_bytes(blob)
    _run_until(_IMPORTER, [str(path), *map(str, files)], 15)
    assert _integrity(path) == "ok"
    with MemoryStore(path) as store:
        assert store.export() in saves
