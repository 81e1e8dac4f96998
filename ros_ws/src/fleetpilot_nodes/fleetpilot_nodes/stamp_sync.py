"""Exact-stamp synchroniser (message_filters' ExactTime policy; message_filters is not a wheel).

Each input keeps its few most recent messages keyed by integer-ns stamp. When every input holds a
message for one stamp, the callback fires once with them (in input order; of two messages of one stamp
on one input the first is kept) and everything at or before that stamp is dropped: lockstep is in order,
so older partial sets can never complete any more.

When the newest stamp that already fired arrives again (the lockstep sim re-sends a batch whose answer
was lost, e.g. to a subscription that matched late), `on_repeat(stamp)` is called once per re-send so the
node can re-publish its cached answer instead of staying silent: without it the graph would stall.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any


class StampSync:
    def __init__(
        self,
        inputs: Sequence[str],
        callback: Callable[..., None],
        *,
        queue_size: int = 8,
        on_repeat: Callable[[int], None] | None = None,
    ) -> None:
        if len(inputs) < 1 or len(set(inputs)) != len(inputs):
            raise ValueError(f"inputs must be one or more distinct names, got {list(inputs)}")
        if queue_size < 1:
            raise ValueError(f"queue_size must be >= 1, got {queue_size}")
        self.inputs = tuple(inputs)
        self._callback = callback
        self._on_repeat = on_repeat
        self._queue_size = queue_size
        self._queues: dict[str, OrderedDict[int, Any]] = {name: OrderedDict() for name in self.inputs}
        self._last_fired: int | None = None
        # messages pushed out of a full queue; normal for inputs faster than the others (odometry)
        self.evicted = 0
        self.duplicates = 0  # messages whose stamp this input already held (the first one is kept)

    def add(self, name: str, stamp_ns: int, msg: Any) -> bool:
        """Offer one message; returns True when it completed a set and the callback fired."""
        if name not in self._queues:
            raise KeyError(f"unknown sync input {name!r}; inputs are {self.inputs}")
        if self._last_fired is not None and stamp_ns <= self._last_fired:
            # late: its set already fired (or was abandoned); a re-send of the newest one asks again
            if stamp_ns == self._last_fired and name == self.inputs[0] and self._on_repeat is not None:
                self._on_repeat(stamp_ns)
            return False
        queue = self._queues[name]
        if stamp_ns in queue:
            # A second message of one stamp on one input: the first one stands (a re-send carries the same
            # content; anything else is a second publisher, whose message must not silently replace one
            # that may already have been checked). Counted, never raised.
            self.duplicates += 1
            return False
        queue[stamp_ns] = msg
        if len(queue) > self._queue_size:
            queue.popitem(last=False)
            self.evicted += 1
        if not all(stamp_ns in q for q in self._queues.values()):
            return False
        msgs = [self._queues[n].pop(stamp_ns) for n in self.inputs]
        for q in self._queues.values():
            for old in [s for s in q if s < stamp_ns]:
                del q[old]
        self._last_fired = stamp_ns
        self._callback(*msgs)
        return True

    def pending(self) -> dict[str, list[int]]:
        return {n: list(q) for n, q in self._queues.items()}


class LastAnswer:
    """What a node published for its newest stamp, to publish again when that stamp is re-sent
    (StampSync's on_repeat). Messages are kept, not rebuilt: the answer is identical by construction."""

    def __init__(self) -> None:
        self.stamp: int | None = None
        self._sends: list[tuple[Any, Any]] = []

    def publish(self, stamp_ns: int, publisher: Any, msg: Any) -> None:
        if stamp_ns != self.stamp:
            self.stamp, self._sends = stamp_ns, []
        self._sends.append((publisher, msg))
        publisher.publish(msg)

    def repeat(self, stamp_ns: int) -> None:
        if stamp_ns == self.stamp:
            for publisher, msg in self._sends:
                publisher.publish(msg)


class StampLog(dict):
    """Per-stamp figures kept for benchmarks and runners (stage milliseconds, publish and answer wall
    times), holding only the newest `maxlen` stamps.

    A node launched in real time runs for hours: a plain dict that keeps every frame grows without end
    (20 Hz camera frames, 60 Hz control periods of a legged body). The default keeps 30 minutes of
    camera frames, more than any benchmark or scenario run reads. Only item assignment evicts; that is
    all the nodes use.
    """

    def __init__(self, maxlen: int = 36_000) -> None:
        if maxlen < 1:
            raise ValueError(f"maxlen must be >= 1, got {maxlen}")
        super().__init__()
        self.maxlen = maxlen

    def __setitem__(self, stamp: int, value: Any) -> None:
        super().__setitem__(stamp, value)
        if len(self) > self.maxlen:
            del self[next(iter(self))]  # dicts keep insertion order: the oldest stamp goes
