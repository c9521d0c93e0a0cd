"""A greedy walk over the token trie of a few allowed strings.

Private to the backends. A choice job (``SamplingParams.choices``) continues
its prompt with exactly one of its options: at each point where the options
part ways, only the logits of the few allowed next tokens are read and the
highest one is taken. Tokens every remaining option shares are taken
without asking the model, so a choice costs one model step per branching
point on its path, and nothing once a single option is left.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from npc_ai.errors import InputError

__all__ = ["ChoiceWalk"]


@dataclass(slots=True, eq=False)
class _Node:
    children: dict[int, _Node] = field(default_factory=dict)
    option: int | None = None  # the option that ends here
    bias: float = float("-inf")  # the largest bias of the options through here


class ChoiceWalk:
    """Where a greedy walk stands among ``options``, given their token ids.

    Use: while not :attr:`done`, read the logits of :attr:`allowed` after the
    prompt and the tokens fed so far, and call :meth:`pick` with them; it
    returns the tokens to feed before the next reading (empty once done).
    """

    def __init__(
        self,
        options: Sequence[str],
        tokens: Sequence[Sequence[int]],
        bias: Sequence[float] = (),
    ) -> None:
        if not options or len(options) != len(tokens) or (bias and len(bias) != len(options)):
            raise InputError("a choice needs one token sequence (and bias) per option")
        self.options = tuple(options)
        self._tokens = [tuple(int(t) for t in ids) for ids in tokens]
        self._root = _Node()
        for index, ids in enumerate(tokens):
            if not ids:
                raise InputError(f"choice {options[index]!r} has no tokens")
            node = self._root
            for token in ids:
                if node.option is not None:
                    break
                node = node.children.setdefault(int(token), _Node())
                node.bias = max(node.bias, float(bias[index]) if bias else 0.0)
            if node.option is not None or node.children:
                other = options[node.option] if node.option is not None else "another choice"
                raise InputError(
                    f"choices {options[index]!r} and {other!r} cannot be told apart token by "
                    "token; end each with a terminator such as '.'"
                )
            node.option = index
        self._node = self._root
        #: Tokens taken so far, the forced ones included.
        self.path: list[int] = []
        #: Model readings the walk needed.
        self.readings = 0
        #: The scores of the first reading, by token id, before any bias.
        self.first_scores: dict[int, float] = {}
        self._start_length = 0
        self._set(self._root)

    def _set(self, node: _Node) -> None:
        self._node = node
        self._allowed = np.fromiter(node.children, dtype=np.intp, count=len(node.children))
        self._bias = np.array([child.bias for child in node.children.values()])

    @property
    def done(self) -> bool:
        return self._node.option is not None

    @property
    def allowed(self) -> np.ndarray[tuple[int], np.dtype[np.intp]]:
        """Token ids that may come next, in the options' order."""
        return self._allowed

    @property
    def result(self) -> str:
        """The chosen option (only once :attr:`done`)."""
        if self._node.option is None:
            raise InputError("the choice is not made yet")
        return self.options[self._node.option]

    def pick(self, scores: np.ndarray[tuple[int], np.dtype[np.floating]]) -> list[int]:
        """Take the allowed token of the highest score (the first one on a tie),
        then every token that follows it unopposed; return the tokens taken."""
        if self.done:
            raise InputError("the choice is already made")
        if len(scores) != len(self._allowed):
            raise InputError(f"expected {len(self._allowed)} scores, got {len(scores)}")
        if not self.readings:
            self.first_scores = dict(zip(self._allowed.tolist(), map(float, scores), strict=True))
        self.readings += 1
        # NaN-free from llama.cpp; argmax keeps the first of ties.
        best = int(np.argmax(np.asarray(scores, dtype=np.float64) + self._bias))
        token = int(self._allowed[best])
        node = self._node.children[token]
        taken = [token]
        while node.option is None and len(node.children) == 1:
            token, node = next(iter(node.children.items()))
            taken.append(token)
        self.path.extend(taken)
        self._set(node)
        return taken

    def option_scores(self) -> tuple[float, ...]:
        """Each option's score at the first reading (that of its token there),
        before any bias; empty if the walk needed no reading."""
        if not self.first_scores:
            return ()
        at = self._start_length
        return tuple(self.first_scores[ids[at]] for ids in self._tokens)

    def start(self) -> list[int]:
        """Tokens every option begins with: taken before the first reading."""
        node, taken = self._root, []
        while node.option is None and len(node.children) == 1:
            token, node = next(iter(node.children.items()))
            taken.append(token)
        self.path.extend(taken)
        self._start_length = len(taken)
        self._set(node)
        return taken
