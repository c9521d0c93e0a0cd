"""The batched engine's slot bookkeeping (:mod:`npc_ai.backends._slots`), on a fake cache."""

from __future__ import annotations

from typing import Any

from npc_ai.backends._slots import Slot, common_tokens, hold


class FakeMemory:
    """Records llama.cpp's sequence edits; every removal succeeds."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def llama_memory_seq_rm(self, mem: object, seq: int, start: int, end: int) -> bool:
        self.calls.append(("rm", seq, start, end))
        return True

    def llama_memory_seq_cp(self, mem: object, src: int, dst: int, start: int, end: int) -> None:
        self.calls.append(("cp", src, dst, start, end))


PREFIX, LINE = (1, 2, 3), (4, 5)


def talked(key: object = "smith") -> Slot:
    """A slot after a reply: the prompt's two segments, then the generated tokens 6 7 8."""
    return Slot(0, key=key, segments=[PREFIX, LINE], tail=[6, 7, 8], n_past=8)


def test_the_next_turn_keeps_the_generated_tokens_it_starts_with() -> None:
    ll, slot = FakeMemory(), talked()
    turn = [PREFIX, LINE, (6, 7, 9, 10)]  # the reply (6 7), then the player's next line
    assert hold(ll, None, [slot], slot, "smith", turn, 2, partial=True) == (2, 2)
    assert ll.calls == [("rm", 0, 7, -1)]  # the unmatched generated token goes
    assert (slot.n_past, slot.tail, slot.segments) == (7, [6, 7], [PREFIX, LINE])


def test_without_partial_the_reply_is_read_again() -> None:
    ll, slot = FakeMemory(), talked()
    turn = [PREFIX, LINE, (6, 7, 9, 10)]
    assert hold(ll, None, [slot], slot, "smith", turn, 2) == (2, 0)
    assert ll.calls == [("rm", 0, 5, -1)]
    assert (slot.n_past, slot.tail) == (5, [])


def test_a_segment_read_after_the_reply_counts_too() -> None:
    # A structured reply's choice prompt: the reply again, then "[... feels".
    ll = FakeMemory()
    slot = Slot(0, key="smith", segments=[PREFIX, LINE, (6, 7, 11)], tail=[12], n_past=9)
    turn = [PREFIX, LINE, (6, 7, 9, 10)]
    assert hold(ll, None, [slot], slot, "smith", turn, 2, partial=True) == (2, 2)
    assert (slot.n_past, slot.tail, slot.segments) == (7, [6, 7], [PREFIX, LINE])


def test_the_last_token_is_always_read_for_its_logits() -> None:
    ll, slot = FakeMemory(), Slot(0, key="smith", segments=[PREFIX], tail=[4, 5], n_past=5)
    # The same prompt again (a retry): everything is cached but its last token.
    assert hold(ll, None, [slot], slot, "smith", [PREFIX, LINE], 1, partial=True) == (1, 1)
    assert slot.n_past == 4 and slot.tail == [4]


def test_another_conversations_tokens_are_never_kept() -> None:
    ll, slot = FakeMemory(), talked(key="guard")
    turn = [PREFIX, LINE, (6, 7, 9)]
    assert hold(ll, None, [slot], slot, "smith", turn, 2, partial=True) == (0, 0)
    assert slot.n_past == 0 and slot.key == "smith"


def test_common_tokens() -> None:
    assert common_tokens([1, 2, 3], (1, 2, 4)) == 2
    assert common_tokens([], (1,)) == 0
    assert common_tokens([1, 2], (1, 2, 3)) == 2
