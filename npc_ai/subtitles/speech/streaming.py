"""Streaming transcription: VAD phrases, LocalAgreement-2 commits and a latency governor.

:class:`StreamingTranscriber` is a state machine with no I/O and no threads: feed it 16 kHz mono
float32 audio with :meth:`~StreamingTranscriber.insert_audio`, call
:meth:`~StreamingTranscriber.process_iter` for the captions that are ready, and
:meth:`~StreamingTranscriber.finish` at the end of the stream. The speech recogniser and the
voice detector are Protocols, so tests drive it with scripted fakes in milliseconds.

How a phrase becomes captions:

* The voice detector cuts the stream into phrases: a phrase starts at speech (with a little
  audio before it) and ends after ``min_silence`` seconds of silence. Silence never reaches
  the recogniser.
* While a phrase grows, every ``step`` seconds of new audio the whole phrase so far is
  transcribed (a *partial pass*). Words two passes in a row agree on are *committed*
  (LocalAgreement-2, Macháček et al. 2023, arXiv 2307.14743); they never change again.
  Each pass that changes the text sends a partial :class:`~npc_ai.subtitles.speech.events.Caption`
  (committed + tentative words) with the next revision number.
* When the phrase ends, one *final pass* over the whole phrase gives the final caption at
  once, so the final does not wait for a further chunk to agree. The final pass hears the
  phrase complete, so its text replaces the partials' (committed words included); on the
  benchmark's espeak speech with tiny.en this scores about the same as committed words plus
  the rest (11.4 % against 11.9 % WER) and needs no stitching at the commit boundary.
* A phrase longer than ``max_phrase`` seconds is cut after its last committed word; one longer
  than ``hard_phrase`` seconds (nothing committed, e.g. partial passes were shed) is cut after
  the last word that ends a second before the buffer does.

The latency governor keeps captions near real time on a busy CPU: it measures each pass's wall
cost, lengthens the step so partial passes use at most ``max_load`` of real time, sheds a
partial pass whenever the audio it would cover waited longer than ``max_lag`` (the final and
cut passes always run), and runs no partial pass once the speaker has paused, so a final never
queues behind a partial.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import replace

import numpy as np

from npc_ai.errors import AudioFormatError, InputError
from npc_ai.subtitles.speech import shield
from npc_ai.subtitles.speech.asr import (
    SAMPLE_RATE,
    AsrResult,
    Audio,
    SpeechRecognizer,
    VoiceDetector,
)
from npc_ai.subtitles.speech.events import Caption, Word
from npc_ai.subtitles.speech.phrase import Phrase, agreement, join_words, new_words
from npc_ai.subtitles.speech.streaming_options import StreamingOptions, TranscriberStats

__all__ = [
    "SAMPLE_RATE",
    "AsrResult",
    "SpeechRecognizer",
    "StreamingOptions",
    "StreamingTranscriber",
    "TranscriberStats",
    "VoiceDetector",
]

logger = logging.getLogger(__name__)

_CONTEXT_GAP = 10.0  # seconds of silence after which earlier phrases are no longer context

# SAMPLE_RATE, AsrResult, SpeechRecognizer and VoiceDetector live in npc_ai.subtitles.speech.asr,
# StreamingOptions and TranscriberStats in streaming_options, and are re-exported here, next to
# the transcriber that uses them.


class StreamingTranscriber:
    """Turns a stream of audio into partial and final captions (no I/O, no threads).

    ``final_recognizer`` (default: ``recognizer``) makes the final passes, so a larger model
    can write the finals while a small one keeps the partials quick. ``clock`` returns wall
    seconds (monotonic); tests pass a fake one.
    """

    def __init__(
        self,
        recognizer: SpeechRecognizer,
        vad: VoiceDetector,
        *,
        options: StreamingOptions | None = None,
        final_recognizer: SpeechRecognizer | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._asr = recognizer
        self._final_asr = final_recognizer or recognizer
        self._vad = vad
        self._opts = options or StreamingOptions()
        self._clock = clock
        self._window = vad.window
        self._pending = np.zeros(0, np.float32)
        self._t = 0  # stream samples the VAD has seen
        self._preroll: deque[Audio] = deque()
        self._preroll_samples = 0
        self._phrase: Phrase | None = None
        self._closed: deque[Phrase] = deque()
        self._next_segment = 0
        self._history = ""
        self._context: deque[tuple[int, Audio, str]] = deque()  # (end sample, audio, final text)
        self._finished = False
        self._undelivered: list[Caption] = []
        # Governor.
        self._pass_cost = 0.0  # moving average of a pass's wall cost
        self._step = self._opts.min_step
        self._partial_passes = 0
        self._final_passes = 0
        self._shed = 0
        self._rejected = 0
        self._asr_seconds = 0.0

    # -- input ----------------------------------------------------------------------------

    @property
    def options(self) -> StreamingOptions:
        """The options in use."""
        return self._opts

    @property
    def backlog(self) -> float:
        """Seconds of phrase audio no pass has covered yet."""
        unseen = sum(p.samples - p.seen for p in self._closed)
        if self._phrase is not None:
            unseen += self._phrase.samples - self._phrase.seen
        return unseen / SAMPLE_RATE

    @property
    def stats(self) -> TranscriberStats:
        """Counters of passes, shed passes and recogniser time."""
        return TranscriberStats(
            audio_seconds=(self._t + len(self._pending)) / SAMPLE_RATE,
            partial_passes=self._partial_passes,
            final_passes=self._final_passes,
            shed_passes=self._shed,
            rejected_passes=self._rejected,
            asr_seconds=self._asr_seconds,
            step=self._step,
        )

    def insert_audio(self, chunk: Audio) -> None:
        """Append 16 kHz mono float32 samples to the stream (any length, even 0)."""
        if self._finished:
            raise InputError("insert_audio() after finish(): the stream has ended")
        array = np.asarray(chunk)
        if array.ndim != 1 or not np.issubdtype(array.dtype, np.floating):
            raise AudioFormatError(
                f"audio chunk must be a 1-D float array of 16 kHz mono samples, got "
                f"shape {array.shape} dtype {array.dtype}",
                shape=list(array.shape),
                dtype=str(array.dtype),
            )
        if array.size == 0:
            return
        arrived = self._clock()
        data = np.concatenate([self._pending, array.astype(np.float32, copy=False)])
        whole = len(data) - len(data) % self._window
        self._pending = data[whole:]
        if whole:
            self._detect(data[:whole], arrived)

    def _detect(self, audio: Audio, arrived: float) -> None:
        opts = self._opts
        probs = self._vad(audio)
        w = self._window
        pad = int(opts.pad * SAMPLE_RATE)
        # When the audio came at real-time pace its first sample arrived len(audio) earlier
        # than the call: stamp each window with its own arrival, or audio that queued during a
        # long pass would look fresh and the governor would never see the lag.
        first = arrived - len(audio) / SAMPLE_RATE
        for i, p in enumerate(probs):
            frame = audio[i * w : (i + 1) * w]
            came = first + (i + 1) * w / SAMPLE_RATE
            start = self._t
            self._t += w
            phrase = self._phrase
            if phrase is None:
                if p >= opts.vad_threshold:
                    pre = list(self._preroll)
                    pre_n = self._preroll_samples
                    phrase = Phrase(start=start - pre_n, chunks=[*pre, frame])
                    phrase.samples = pre_n + w
                    phrase.speech = w
                    phrase.speech_end = self._t
                    phrase.unseen_since = came
                    self._phrase = phrase
                    self._preroll.clear()
                    self._preroll_samples = 0
                else:
                    self._preroll.append(frame)
                    self._preroll_samples += w
                    while self._preroll_samples - len(self._preroll[0]) >= pad:
                        self._preroll_samples -= len(self._preroll.popleft())
                continue
            phrase.chunks.append(frame)
            phrase.samples += w
            if phrase.unseen_since is None:
                phrase.unseen_since = came
            speaking = p >= (opts.vad_neg_threshold if phrase.silence == 0 else opts.vad_threshold)
            if speaking:
                phrase.silence = 0
                phrase.speech += w
                phrase.speech_end = self._t
            else:
                phrase.silence += w
                if phrase.silence >= opts.min_silence * SAMPLE_RATE:
                    self._close(phrase)

    def _close(self, phrase: Phrase) -> None:
        """End ``phrase`` at its last speech plus ``tail``; its end seeds the pre-roll."""
        pad = int(self._opts.pad * SAMPLE_RATE)
        keep_until = min(
            phrase.speech_end + int(self._opts.tail * SAMPLE_RATE), phrase.start + phrase.samples
        )
        audio = phrase.audio()
        phrase.chunks = [audio[: keep_until - phrase.start]]
        phrase.samples = keep_until - phrase.start
        phrase.seen = min(phrase.seen, phrase.samples)
        self._phrase = None
        # The silence that ended this phrase may lead into the next one.
        lead = audio[max(0, len(audio) - pad) :] if pad else audio[:0]
        self._preroll = deque([lead] if len(lead) else [])
        self._preroll_samples = len(lead)
        if phrase.speech >= self._opts.min_speech * SAMPLE_RATE or phrase.segment is not None:
            self._closed.append(phrase)

    # -- processing -----------------------------------------------------------------------

    def process_iter(self) -> list[Caption]:
        """Run the passes that are due and return the captions they produced (maybe none).

        When the recogniser fails, its error propagates; captions made before it in the same
        call are kept for :meth:`take_undelivered`.
        """
        events: list[Caption] = self.take_undelivered()
        try:
            self._process(events)
        except BaseException:
            self._undelivered = events
            raise
        return events

    def take_undelivered(self) -> list[Caption]:
        """Captions made by a call that then failed (each is handed out once)."""
        events, self._undelivered = self._undelivered, []
        return events

    def _process(self, events: list[Caption]) -> None:
        while self._closed:
            events.extend(self._finalize(self._closed.popleft()))
        phrase = self._phrase
        if phrase is None:
            return
        opts = self._opts
        seconds = phrase.samples / SAMPLE_RATE
        if seconds >= opts.hard_phrase:
            events.extend(self._cut(phrase, hard=True))
        elif seconds >= opts.max_phrase and phrase.committed:
            events.extend(self._cut(phrase, hard=False))
        elif opts.partials and self._partial_due(phrase):
            events.extend(self._partial(phrase))

    def finish(self) -> list[Caption]:
        """End the stream: the open phrase (if any) becomes final. Returns the last captions."""
        if self._finished:
            return []
        if len(self._pending):
            tail = np.zeros(self._window, np.float32)
            tail[: len(self._pending)] = self._pending
            self._pending = np.zeros(0, np.float32)
            self._detect(tail, self._clock())
        if self._phrase is not None:
            self._close(self._phrase)
        events: list[Caption] = self.take_undelivered()
        try:
            while self._closed:
                events.extend(self._finalize(self._closed.popleft()))
        except BaseException:
            self._undelivered = events
            raise
        self._finished = True
        return events

    # -- governor -------------------------------------------------------------------------

    def _learn(self, cost: float) -> None:
        """Fold one partial pass's wall cost into the cost model and re-size the step."""
        # A pass costs about the same whatever the phrase's length (the encoder window has a
        # fixed minimum), so the model is the moving average of the cost of a pass.
        if self._pass_cost == 0.0:
            self._pass_cost = cost
        else:
            self._pass_cost += 0.3 * (cost - self._pass_cost)
        self._step = min(
            self._opts.max_step, max(self._opts.min_step, self._pass_cost / self._opts.max_load)
        )

    def _partial_due(self, phrase: Phrase) -> bool:
        opts = self._opts
        if phrase.revision < 0:
            # The first partial comes as soon as min_step of speech is in (whatever the
            # step has grown to): the first caption is what tells a viewer speech was heard.
            if phrase.samples - phrase.seen < (opts.pad + opts.min_step) * SAMPLE_RATE:
                return False
        elif phrase.samples - phrase.seen < self._step * SAMPLE_RATE:
            return False
        if phrase.silence >= opts.pause * SAMPLE_RATE:
            return False  # the speaker paused: keep the CPU free for the final
        waited = self._clock() - (phrase.unseen_since or self._clock())
        if waited > opts.max_lag:
            self._shed += 1
            phrase.seen = phrase.samples
            phrase.unseen_since = None
            logger.debug("shed a partial pass: its audio waited %.2f s", waited)
            return False
        return True

    # -- passes ---------------------------------------------------------------------------

    def _heard_before(self, phrase: Phrase) -> tuple[list[Audio], str]:
        """Earlier phrases' audio and final text for a final pass (whole phrases, newest last)."""
        budget = self._opts.context * SAMPLE_RATE
        limit = 30 * SAMPLE_RATE - phrase.samples - SAMPLE_RATE
        audio: list[Audio] = []
        texts: list[str] = []
        used = 0
        after = phrase.start
        for end, clip, text in reversed(self._context):
            if after - end > _CONTEXT_GAP * SAMPLE_RATE or used + len(clip) > min(budget, limit):
                break
            audio.insert(0, clip)
            texts.insert(0, text)
            used += len(clip)
            after = end - len(clip)
        return audio, " ".join(texts)

    def _recognize(self, phrase: Phrase, *, final: bool) -> tuple[list[Word], str]:
        """Transcribe the whole phrase; words in stream seconds after the shield."""
        audio = phrase.audio()
        history = self._history
        before: list[Audio] = []
        prefix = ""
        if final and self._opts.context > 0:
            before, prefix = self._heard_before(phrase)
            if prefix and history.endswith(prefix):
                history = history[: -len(prefix)].rstrip()
        prompt = history[-self._opts.prompt_chars :] if self._opts.prompt_chars else ""
        began = self._clock()
        if before:
            result = self._final_asr.transcribe(
                np.concatenate([*before, audio]), prompt=prompt, prefix=prefix
            )
        else:
            result = (self._final_asr if final else self._asr).transcribe(audio, prompt=prompt)
        cost = self._clock() - began
        self._asr_seconds += cost
        if not final:
            self._learn(cost)
        phrase.seen = phrase.samples
        phrase.unseen_since = None
        lead = sum(len(a) for a in before) / SAMPLE_RATE
        offset = phrase.start / SAMPLE_RATE - lead
        first = phrase.start / SAMPLE_RATE
        words = [
            replace(w, start=max(first, w.start + offset), end=max(first, w.end + offset))
            for w in shield.collapse_loops(
                shield.drop_sound_labels(result.words), self._opts.shield
            )
        ]
        reason = shield.rejection(
            text=join_words(words),
            words=words,
            avg_logprob=result.avg_logprob,
            no_speech_prob=result.no_speech_prob,
            options=self._opts.shield,
        )
        if reason is not None:
            self._rejected += 1
            logger.debug("shield rejected %r: %s", result.text, reason)
            return [], result.language
        return words, result.language

    def _partial(self, phrase: Phrase) -> list[Caption]:
        self._partial_passes += 1
        words, language = self._recognize(phrase, final=False)
        phrase.language = language
        new = new_words(phrase, words)
        agreed = agreement(phrase.tentative, new)
        phrase.committed.extend(new[:agreed])
        phrase.tentative = new[agreed:]
        caption = self._caption(phrase, [*phrase.committed, *phrase.tentative], final=False)
        return [caption] if caption is not None else []

    def _finalize(self, phrase: Phrase) -> list[Caption]:
        self._final_passes += 1
        words, language = self._recognize(phrase, final=True)
        phrase.language = language
        # The final pass reads the whole phrase at once and may correct words the partial
        # passes committed (they heard less of it); committed words stand in only when the
        # final pass heard nothing usable.
        caption = self._caption(phrase, words or phrase.committed, final=True)
        if self._opts.context > 0:
            if caption is not None and words:
                end = phrase.start + phrase.samples
                self._context.append((end, phrase.audio(), caption.text))
                while len(self._context) > 8:
                    self._context.popleft()
            else:
                self._context.clear()  # the heard text and its audio would disagree
        return [caption] if caption is not None else []

    def _cut(self, phrase: Phrase, *, hard: bool) -> list[Caption]:
        """Send the phrase's head as a final and go on with the rest as a new phrase."""
        if hard:
            self._final_passes += 1
            words, phrase.language = self._recognize(phrase, final=True)
            end = (phrase.start + phrase.samples) / SAMPLE_RATE - 1.0
            words = [*phrase.committed, *new_words(phrase, words)]
            head = [w for w in words if w.end <= end] or words[:1]
        else:
            head = list(phrase.committed)
        events: list[Caption] = []
        self._context.clear()  # a cut head is not a whole phrase with its own audio
        caption = self._caption(phrase, head, final=True)
        if caption is not None:
            events.append(caption)
        cut = round(head[-1].end * SAMPLE_RATE) if head else phrase.start + phrase.samples
        following = phrase.tentative[:1] if not hard else []
        if head and following and following[0].start > head[-1].end:
            # Word ends from alignment are rough: cut midway to the next word so its onset
            # stays with the rest of the phrase.
            cut = round((head[-1].end + following[0].start) / 2 * SAMPLE_RATE)
        if not head:
            cut -= SAMPLE_RATE  # nothing heard in the whole phrase: keep the last second only
        rest = Phrase(start=phrase.start, chunks=[phrase.audio()])
        rest.samples = phrase.samples
        rest.drop_before(cut)
        rest.speech = rest.samples
        rest.silence = phrase.silence
        rest.speech_end = phrase.speech_end
        rest.seen = 0
        rest.unseen_since = self._clock()
        self._phrase = rest
        return events

    def _caption(self, phrase: Phrase, words: Sequence[Word], *, final: bool) -> Caption | None:
        text = join_words(words)
        if final:
            if text:
                self._history = (self._history + " " + text).strip()[-1000:]
            elif phrase.segment is None:
                return None  # nothing was ever shown for this phrase: nothing to close
        elif not text or text == phrase.shown:
            return None
        if phrase.segment is None:
            phrase.segment = self._next_segment
            self._next_segment += 1
        phrase.revision += 1
        phrase.shown = text
        start = words[0].start if words else phrase.start / SAMPLE_RATE
        end = words[-1].end if words else (phrase.start + phrase.samples) / SAMPLE_RATE
        return Caption(
            segment=phrase.segment,
            revision=phrase.revision,
            final=final,
            text=text,
            start=round(start, 3),
            end=round(end, 3),
            language=phrase.language,
            words=tuple(
                Word(
                    text=w.text.strip(),
                    start=round(w.start, 3),
                    end=round(w.end, 3),
                    probability=w.probability,
                )
                for w in words
            ),
        )
