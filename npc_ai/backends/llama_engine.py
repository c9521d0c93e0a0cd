"""Many NPCs at once on one model: a batched llama.cpp engine.

One llama.cpp context holds one KV-cache sequence per *slot*. A conversation
(a job's ``key``) keeps its slot between replies, so a reply reads only the
part of its prompt that is new; a prompt whose leading segments another slot
already holds (the same persona, shared lore) is copied from it with
``llama_memory_seq_cp`` instead of being read again (the slot bookkeeping is in
:mod:`npc_ai.backends._slots`).

Each :meth:`LlamaBatchEngine.step` is one ``llama_decode`` call holding the
next token of every running reply plus at most one chunk of prompt for those
still reading theirs, highest priority first, so replies stream together and
a new reply starts while the others go on.

A job whose ``params.choices`` is set is a *choice*: it continues its prompt
with exactly one of a few strings, picked by a greedy walk over their token
trie (:mod:`npc_ai.backends._choice`). It runs through the same slots, cache
and steps as a reply; where the options part ways it reads only the logits of
the allowed next tokens (no sampler, no grammar over the whole vocabulary),
and it stops as soon as one option is left.
"""

from __future__ import annotations

import codecs
import os
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from npc_ai.backends._choice import ChoiceWalk
from npc_ai.backends._llama import (
    AbortFlag,
    LlamaModel,
    LlamaOptions,
    default_threads,
    make_sampler,
    quiet_native_log,
)
from npc_ai.backends._prefer import PreferWalk, word_forms
from npc_ai.backends._slots import Active, Slot, Tokens, free_slot, hold
from npc_ai.engine import Job, Piece, Priority
from npc_ai.errors import BackendError, InputError, ModelLoadError

__all__ = ["EngineOptions", "LlamaBatchEngine"]


@dataclass(frozen=True, slots=True, kw_only=True)
class EngineOptions:
    """The engine's shape. Build once at the edge."""

    #: Conversations whose KV cache is kept at once (llama.cpp sequences).
    slots: int = 8
    #: Replies generated at once: the admission limit. Further jobs queue.
    max_active: int = 8
    #: Prompt tokens read per step, across all jobs reading a prompt.
    prefill_chunk: int = 64
    #: Keep what a conversation's sequence holds past its common segments (the tokens the
    #: NPC generated, a choice prompt read after them) when the next prompt starts with the
    #: same tokens: the next turn does not read the NPC's last reply again. The cached
    #: tokens were computed in other batches than a fresh read, so a seed no longer gives
    #: the same reply bit for bit; the synchronous generator turns it off. With it, a step's
    #: prompt budget is also filled across several NPCs' prompts at any offset (see _plan).
    keep_generated: bool = True
    #: Model loading and threads; ``context_size`` is per conversation.
    llama: LlamaOptions = field(default_factory=LlamaOptions)

    def __post_init__(self) -> None:
        if self.slots < 1 or self.max_active < 1 or self.prefill_chunk < 1:
            raise InputError("slots, max_active and prefill_chunk must be at least 1")
        if self.max_active > self.slots:
            raise InputError(
                f"max_active ({self.max_active}) cannot exceed slots ({self.slots}): "
                "each running reply needs a slot"
            )


class LlamaBatchEngine:
    """The :class:`~npc_ai.engine.Engine` of a game: many replies, one model."""

    def __init__(
        self,
        model_path: str | os.PathLike[str],
        *,
        options: EngineOptions | None = None,
    ) -> None:
        self.options = opts = options or EngineOptions()
        self.model = model = LlamaModel(model_path, repack=opts.llama.repack)
        ll = self.ll = model.ll
        self._ctx: Any = None
        self._batch: Any = None
        threads = opts.llama.threads or default_threads()
        cparams = ll.llama_context_default_params()
        cparams.n_seq_max = opts.slots
        cparams.n_ctx = opts.llama.context_size * opts.slots
        cparams.kv_unified = False  # each conversation attends to its own cells only
        size = max(opts.prefill_chunk, opts.llama.batch_size) + opts.slots
        cparams.n_batch = cparams.n_ubatch = size
        cparams.n_outputs_max = opts.slots
        cparams.n_threads = threads
        cparams.n_threads_batch = opts.llama.batch_threads or threads
        cparams.no_perf = True
        self._abort = AbortFlag(ll)
        cparams.abort_callback = self._abort.callback
        cparams.abort_callback_data = self._abort.data
        ctx = ll.llama_init_from_model(model.handle, cparams)
        if not ctx:
            model.close()
            raise ModelLoadError(f"llama.cpp could not create a context for {model.path}")
        self._ctx = ctx
        quiet_native_log()
        self._memory = ll.llama_get_memory(ctx)
        self._batch = ll.llama_batch_init(size, 0, 1)
        self._batch_size = size
        self._context_size = int(ll.llama_n_ctx_seq(ctx))
        self._slots = [Slot(seq) for seq in range(opts.slots)]
        self._queue: list[Job] = []
        self._active: dict[int, Active] = {}
        self._tokens: OrderedDict[tuple[str, bool], Tokens] = OrderedDict()
        self._clock = 0
        self._closed = False
        self._closing = False
        #: What the last step decoded: (tokens of running replies, prompt tokens). A
        #: benchmark prices steps with it (tools/bench_runtime.py: the engine's efficiency).
        self.last_step: tuple[int, int] = (0, 0)

    # -- the Engine protocol -------------------------------------------------------

    @property
    def context_size(self) -> int:
        return self._context_size

    def count_tokens(self, text: str) -> int:
        # Safe from any thread: the tokenizer only reads the vocabulary, and
        # the engine's own token cache is left to the stepping thread.
        return len(self.model.tokenize(text, add_bos=False))

    def submit(self, job: Job) -> None:
        self._check_open()
        self._queue.append(job)

    def cancel(self, job_id: int) -> None:
        self._queue = [j for j in self._queue if j.id != job_id]
        active = self._active.pop(job_id, None)
        if active is not None:
            self._release(active)

    def reprioritize(self, job_id: int, priority: Priority) -> None:
        self._queue = [replace(j, priority=priority) if j.id == job_id else j for j in self._queue]
        active = self._active.get(job_id)
        if active is not None:
            active.job = replace(active.job, priority=priority)

    @property
    def busy(self) -> bool:
        return bool(self._queue or self._active)

    @property
    def running(self) -> int:
        """Replies being generated now."""
        return len(self._active)

    def abort(self) -> None:
        self._closing = True
        self._abort.set()

    def preempt(self) -> None:
        """From any thread: cut the step in progress short, because a job of
        higher priority is waiting. The cut step is run again later."""
        self._abort.set()

    def close(self) -> None:
        """Free everything. Call from the thread that steps the engine, once it stopped."""
        if self._closed:
            return
        self._closed = True
        for active in list(self._active.values()):
            self._release(active)
        self._active.clear()
        self._queue.clear()
        if self._batch is not None:
            self.ll.llama_batch_free(self._batch)
            self._batch = None
        if self._ctx:
            self.ll.llama_free(self._ctx)
            self._ctx = None
        self.model.close()

    def reset(self) -> None:
        """Forget every cached conversation (running jobs are cancelled)."""
        for job_id in list(self._active):
            self.cancel(job_id)
        self.ll.llama_memory_clear(self._memory, True)
        for slot in self._slots:
            slot.segments, slot.tail, slot.n_past, slot.key = [], [], 0, None

    def cached_tokens(self, key: object) -> int:
        """Tokens held in the cache for conversation ``key`` (0 if it has no slot)."""
        for slot in self._slots:
            if slot.key == key:
                return slot.n_past
        return 0

    def step(self) -> list[Piece]:
        self._check_open()
        out = self._admit()
        if not self._active:
            return out
        plan = self._plan()
        if not plan:  # pragma: no cover - every running job has a token or a chunk
            return out
        prompt = sum(len(tokens) for active, tokens, _ in plan if active.todo)
        self.last_step = (sum(len(tokens) for _, tokens, _ in plan) - prompt, prompt)
        try:
            self._decode(plan)
        except BackendError as exc:
            if self._abort.is_set and not self._closing:
                self._undo(plan)  # preempted: nothing of this step happened
                return out
            return out + self._fail(plan, exc)
        return out + self._advance(plan)

    # -- admission -------------------------------------------------------------------

    def _tokenize(self, text: str, *, bos: bool) -> Tokens:
        cache_key = (text, bos)
        tokens = self._tokens.get(cache_key)
        if tokens is None:
            tokens = tuple(self.model.tokenize(text, add_bos=bos))
            self._tokens[cache_key] = tokens
            if len(self._tokens) > 512:
                self._tokens.popitem(last=False)
        else:
            self._tokens.move_to_end(cache_key)
        return tokens

    def _admit(self) -> list[Piece]:
        out: list[Piece] = []
        while self._queue and len(self._active) < self.options.max_active:
            job = min(self._queue, key=lambda j: (j.priority, j.id))
            if job.params.max_tokens and self.options.keep_generated:
                out += self._take_over_prefill(job)
            slot = free_slot(self._slots, job)
            if slot is None:
                break
            self._queue.remove(job)
            try:
                segments = self._prompt_tokens(job)
            except InputError as exc:
                out.append(Piece(job.id, "", "error", exc))
                continue
            walk = None
            if job.params.choices:
                walk = self._walk(job)
                if walk.done:  # one option, or all but one ruled out by their shared start
                    out.append(Piece(job.id, walk.result, "stop"))
                    continue
                if walk.path:  # read the tokens every option starts with as prompt
                    segments[-1] = segments[-1] + tuple(walk.path)
            active = self._start(job, slot, segments, walk)
            if not active.todo and job.params.max_tokens == 0:
                out.append(self._finish(active, "", "prefilled"))  # all cached already
        return out

    def _take_over_prefill(self, job: Job) -> list[Piece]:
        """A reply for a conversation whose prompt is still being read ahead (prepared as
        the player walked up, not finished yet): end that read where it is, and the reply
        reads on from there in the same slot instead of from nothing in another."""
        out = []
        for active in list(self._active.values()):
            if active.job.key == job.key and active.job.params.max_tokens == 0:
                out.append(self._finish(active, "", "prefilled"))
        return out

    def check(self, job: Job) -> None:
        """Raise :class:`InputError` now if ``job``'s prompt cannot fit a conversation.

        Call from the stepping thread: the tokens are kept for the job's start.
        """
        self._prompt_tokens(job)

    def _prompt_tokens(self, job: Job) -> list[Tokens]:
        segments = [self._tokenize(text, bos=i == 0) for i, text in enumerate(job.segments) if text]
        total = sum(len(s) for s in segments)
        if not segments:
            raise InputError("the prompt is empty")
        if total + job.params.max_tokens > self._context_size:
            raise InputError(
                f"the prompt takes {total} tokens and the reply up to {job.params.max_tokens}, "
                f"more than a conversation's context of {self._context_size}; shorten it or "
                "raise context_size"
            )
        return segments

    def _walk(self, job: Job) -> ChoiceWalk:
        """The trie of a choice job's options, tokenized as they follow its prompt.

        An option's first token depends on the text before it (" calm" is
        one token after "feels", "calm" alone is two): each option is
        tokenized after the prompt's last segment, and that segment's own
        tokens are taken off. When the two merge across the boundary, the
        option is tokenized alone, as the engine reads every segment alone.
        """
        last = max(i for i, text in enumerate(job.segments) if text)
        tail, bos = job.segments[last], last == 0  # as _prompt_tokens reads it
        before = self._tokenize(tail, bos=bos)
        tokens = []
        for option in job.params.choices:
            both = self.model.tokenize(tail + option, add_bos=bos)
            if tuple(both[: len(before)]) == before and len(both) > len(before):
                tokens.append(both[len(before) :])
            else:
                tokens.append(self.model.tokenize(option, add_bos=False))
        walk = ChoiceWalk(job.params.choices, tokens, job.params.choice_bias)
        walk.start()
        return walk

    def _start(
        self, job: Job, slot: Slot, segments: list[Tokens], walk: ChoiceWalk | None = None
    ) -> Active:
        # The last segment is read again for its logits, unless nothing is
        # to be generated.
        reusable = len(segments) - (1 if job.params.max_tokens else 0)
        same, more = hold(
            self.ll,
            self._memory,
            self._slots,
            slot,
            job.key,
            segments,
            reusable,
            partial=self.options.keep_generated,
        )
        self._clock += 1
        slot.last_used = self._clock
        seed = job.params.seed
        if seed is None:
            seed = int.from_bytes(os.urandom(4), "little")
        active = Active(
            job=job,
            slot=slot,
            todo=list(segments[same:]),
            todo_offset=more,
            sampler=None if walk else make_sampler(self.ll, self.model.n_vocab, job.params, seed),
            decoder=codecs.getincrementaldecoder("utf-8")(errors="replace"),
            has_content=not job.params.forbid_empty,
            walk=walk,
        )
        if job.params.prefer and walk is None:
            forms = word_forms(job.params.prefer, self._plain_tokens, self.model.blank_set)
            active.prefer = PreferWalk(forms, job.params.prefer, job.params.prefer_bias)
        if job.params.ban_first and walk is None:
            forms = word_forms(job.params.ban_first, self._plain_tokens, self.model.blank_set)
            active.ban_ids = np.array(sorted({f[0] for f in forms}), dtype=np.int32)
        slot.job = active
        self._active[job.id] = active
        return active

    def _plain_tokens(self, text: str) -> list[int]:
        return self.model.tokenize(text, add_bos=False)

    def _release(self, active: Active) -> None:
        if active.sampler is not None:
            self.ll.llama_sampler_free(active.sampler)
            active.sampler = None
        active.slot.job = None

    # -- one step ----------------------------------------------------------------------

    def _plan(self) -> list[tuple[Active, list[int], bool]]:
        """What this step decodes: (job, tokens, wants logits) per job.

        Every running reply's next token, and prompt tokens of the replies still reading
        theirs, up to ``prefill_chunk`` of them, highest priority first. Among replies of
        one priority the one served least often goes first, and the budget is filled
        across several of them (with ``keep_generated``; without it each chunk starts at a
        fixed offset of its segment, so a cached prompt reads the same as a fresh one), so
        NPCs asked at once all start soon rather than one whole prompt after another.
        """
        plan: list[tuple[Active, list[int], bool]] = []
        reading = sorted(
            (a for a in self._active.values() if a.todo),
            key=lambda a: (a.job.priority, a.served, a.job.id),
        )
        focused = bool(reading) and reading[0].job.priority == Priority.FOCUSED
        if focused:
            # The player is waiting for this reply: its prompt chunk is read
            # alone, and the other replies go on a step later.
            reading = reading[:1]
        else:
            for active in self._active.values():
                if active.pending is not None:
                    plan.append((active, [active.pending], True))
                elif active.feed:
                    plan.append((active, list(active.feed), True))
        budget = size = self.options.prefill_chunk
        packed = self.options.keep_generated
        used = 0
        for active in reading:
            segment, offset = active.todo[0], active.todo_offset
            if packed:
                end = min(len(segment), offset + budget - used)
            else:
                # Chunks start at fixed offsets within their segment, whatever else
                # is in the step: cached or not, a segment is read the same way.
                end = min(len(segment), (offset // size + 1) * size)
                if used and used + end - offset > budget:
                    break
            chunk = list(segment[offset:end])
            last = end == len(segment) and len(active.todo) == 1
            plan.append((active, chunk, last and active.job.params.max_tokens > 0))
            active.served += 1
            used += len(chunk)
            if used >= budget:
                break
        return plan

    def _undo(self, plan: list[tuple[Active, list[int], bool]]) -> None:
        self._abort.clear()
        for active, _tokens, _logits in plan:
            self.ll.llama_memory_seq_rm(self._memory, active.slot.seq, active.slot.n_past, -1)

    def _decode(self, plan: list[tuple[Active, list[int], bool]]) -> None:
        batch, n = self._batch, 0
        for active, tokens, logits in plan:
            seq, pos = active.slot.seq, active.slot.n_past
            for i, token in enumerate(tokens):
                batch.token[n] = token
                batch.pos[n] = pos + i
                batch.n_seq_id[n] = 1
                batch.seq_id[n][0] = seq
                batch.logits[n] = logits and i == len(tokens) - 1
                n += 1
        batch.n_tokens = n
        status = self.ll.llama_decode(self._ctx, batch)
        if status != 0:
            if self._abort.is_set:
                raise BackendError("the engine is shutting down")
            raise BackendError(f"llama_decode failed with status {status}")

    def _advance(self, plan: list[tuple[Active, list[int], bool]]) -> list[Piece]:
        out: list[Piece] = []
        row = 0
        for active, tokens, logits in plan:
            slot = active.slot
            slot.n_past += len(tokens)
            slot.tail += tokens
            if active.pending is not None and tokens == [active.pending] and not active.todo:
                active.pending = None
            elif active.feed and tokens == active.feed and not active.todo:
                active.feed = []
            elif active.todo:
                active.todo_offset += len(tokens)
                if active.todo_offset == len(active.todo[0]):
                    slot.segments.append(active.todo.pop(0))
                    slot.tail = []
                    active.todo_offset = 0
            if logits:
                piece = self._sample(active, row + len(tokens) - 1)
                if piece is not None:
                    out.append(piece)
            elif not active.todo and active.job.params.max_tokens == 0:
                out.append(self._finish(active, "", "prefilled"))
            row += len(tokens)
        return out

    def _sample(self, active: Active, row: int) -> Piece | None:
        ll, model = self.ll, self.model
        if active.walk is not None:
            return self._choose(active, active.walk, row)
        if not active.has_content or active.prefer is not None or active.ban_ids is not None:
            # Edited in place, before the sampler chain reads them.
            logits = np.ctypeslib.as_array(
                ll.llama_get_logits_ith(self._ctx, row), shape=(model.n_vocab,)
            )
            if not active.has_content:
                logits[model.blank] = -np.inf
            if active.prefer is not None:
                logits[active.prefer.ids()] += active.prefer.bias
            if active.ban_ids is not None:
                logits[active.ban_ids] = -np.inf
                active.ban_ids = None  # the opening only
        token = int(ll.llama_sampler_sample(active.sampler, self._ctx, row))
        if model.is_end(token):
            return self._finish(active, active.decoder.decode(b"", final=True), "stop")
        if not active.has_content and token not in model.blank_set:
            active.has_content = True
        text = active.decoder.decode(model.piece(token))
        if active.prefer is not None:
            active.prefer.advance(token, text)
            if active.prefer.done:
                active.prefer = None
        active.generated += 1
        if active.generated >= active.job.params.max_tokens:
            return self._finish(active, text + active.decoder.decode(b"", final=True), "length")
        active.pending = token
        return Piece(active.job.id, text)

    def _choose(self, active: Active, walk: ChoiceWalk, row: int) -> Piece | None:
        logits = np.ctypeslib.as_array(
            self.ll.llama_get_logits_ith(self._ctx, row), shape=(self.model.n_vocab,)
        )
        taken = walk.pick(logits[walk.allowed])
        if walk.done:
            # The rest of the option is known: it is not decoded.
            piece = self._finish(active, walk.result, "stop")
            return replace(piece, scores=walk.option_scores())
        active.feed = taken
        return None

    def _finish(self, active: Active, text: str, end: str) -> Piece:
        del self._active[active.job.id]
        self._release(active)
        return Piece(active.job.id, text, end)

    def _fail(self, plan: list[tuple[Active, list[int], bool]], exc: BackendError) -> list[Piece]:
        out = []
        for active, _tokens, _logits in plan:
            slot = active.slot
            # What this sequence holds is no longer known: start it afresh.
            self.ll.llama_memory_seq_rm(self._memory, slot.seq, 0, -1)
            slot.segments, slot.tail, slot.n_past, slot.key = [], [], 0, None
            if active.job.id in self._active:
                del self._active[active.job.id]
                self._release(active)
                out.append(Piece(active.job.id, "", "error", exc))
        return out

    def _check_open(self) -> None:
        if self._closed:
            raise BackendError("the engine is closed")
