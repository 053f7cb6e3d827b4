"""Micro-batching: concurrent requests for one model version are gathered and run as one call of the model.

The wait adapts to load: whatever is queued when the model is free is taken at once; the batcher then
waits (at most ``wait`` seconds) only for as many rows as recent batches held (an exponential moving
average), so a lone client never waits and sixteen busy clients are gathered into one call.

Why: a SavedModel call has a fixed overhead (graph dispatch, thread hand-off) that dwarfs the compute of a
small model on one example; sixteen clients sending one image each pay it once instead of sixteen times.
The idea is TensorFlow Serving's own batching (``--enable_batching``: max_batch_size, batch_timeout_micros).

Requests whose inputs have different trailing shapes or dtypes cannot share a tensor: they are grouped by
(shape[1:], dtype) per input and each group runs as its own batch. If a batched call fails, each request
of the group is retried alone so one bad request never fails its neighbours.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field

import numpy as np

Inputs = dict[str, np.ndarray]  # input name -> (n, ...) array; every input has the same n
Outputs = dict[str, np.ndarray]  # output name -> (n, ...) array


@dataclass
class _Item:
    inputs: Inputs
    future: asyncio.Future
    n: int = field(init=False)

    def __post_init__(self) -> None:
        self.n = len(next(iter(self.inputs.values())))

    def key(self) -> tuple:
        return tuple((k, v.shape[1:], v.dtype.str) for k, v in sorted(self.inputs.items()))


class MicroBatcher:
    """Gather submitted inputs into batches and run ``predict`` (blocking; run in ``executor``) on them.

    ``on_batch(size)`` is called with the row count of every model call (for the batch-size histogram).
    """

    def __init__(
        self,
        predict: Callable[[Inputs], Outputs],
        executor: Executor | None,
        max_batch: int = 32,
        wait_seconds: float = 0.005,
        on_batch: Callable[[int], None] | None = None,
        max_inflight: int = 2,
    ):
        if max_batch < 1 or wait_seconds < 0:
            raise ValueError(f"max_batch must be >= 1 and wait >= 0; got {max_batch}, {wait_seconds}")
        self.predict = predict
        self.executor = executor
        self.max_batch = max_batch
        self.wait_seconds = wait_seconds
        self.on_batch = on_batch
        self.load = 1.0  # moving average of rows per batch: how many rows to wait for
        self.max_inflight = max(1, max_inflight)  # model calls at once (one per core of a 2-core machine)
        self._pending: set[asyncio.Task] = set()
        self._queue: asyncio.Queue[_Item] | None = None
        self._task: asyncio.Task | None = None

    async def submit(self, inputs: Inputs) -> Outputs:
        """Queue one request's rows; returns that request's rows of every output."""
        loop = asyncio.get_running_loop()
        if self._queue is None:
            self._queue = asyncio.Queue()
        if self._task is None or self._task.done():
            self._task = loop.create_task(self._run())
        item = _Item(inputs, loop.create_future())
        await self._queue.put(item)
        return await item.future

    async def close(self) -> None:
        for task in [self._task, *self._pending]:
            if task is not None:
                task.cancel()
                try:
                    await task
                except (asyncio.CancelledError, Exception):
                    pass

    async def _gather(self) -> list[_Item]:
        assert self._queue is not None
        first = await self._queue.get()
        items, rows = [first], first.n
        target = min(self.max_batch, int(self.load + 0.5))
        deadline = None
        while rows < self.max_batch:
            # Take what is already queued; wait (bounded) only while fewer rows than recent load.
            try:
                item = self._queue.get_nowait()
            except asyncio.QueueEmpty:
                if rows >= target or self.wait_seconds <= 0:
                    break
                if deadline is None:
                    deadline = time.monotonic() + self.wait_seconds
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                try:
                    item = await asyncio.wait_for(self._queue.get(), left)
                except TimeoutError:
                    break
            items.append(item)
            rows += item.n
        self.load = 0.7 * self.load + 0.3 * rows
        return items

    async def _run(self) -> None:
        """Gather a batch whenever a model slot is free; while every slot is busy, requests queue up and
        the next batch takes them all (so the batch size follows the load)."""
        loop = asyncio.get_running_loop()
        slots = asyncio.Semaphore(self.max_inflight)
        while True:
            await slots.acquire()
            try:
                items = await self._gather()
            except BaseException:
                slots.release()
                raise
            task = loop.create_task(self._run_items(loop, items))
            self._pending.add(task)
            task.add_done_callback(lambda t: (self._pending.discard(t), slots.release()))

    async def _run_items(self, loop, items: list[_Item]) -> None:
        groups: dict[tuple, list[_Item]] = {}
        for it in items:
            if not it.future.done():  # a client that went away cancelled its future
                groups.setdefault(it.key(), []).append(it)
        for group in groups.values():
            await self._run_group(loop, group)

    async def _call(self, loop, inputs: Inputs) -> Outputs:
        n = len(next(iter(inputs.values())))
        if self.on_batch:
            self.on_batch(n)
        return await loop.run_in_executor(self.executor, self.predict, inputs)

    async def _run_group(self, loop, group: list[_Item]) -> None:
        if len(group) == 1:
            it = group[0]
            try:
                _resolve(it, await self._call(loop, it.inputs))
            except Exception as e:  # the model rejected this request: hand the error to its caller
                _fail(it, e)
            return
        batch = {k: np.concatenate([it.inputs[k] for it in group]) for k in group[0].inputs}
        try:
            out = await self._call(loop, batch)
        except Exception:
            for it in group:  # isolate the bad request: run each alone
                await self._run_group(loop, [it])
            return
        start = 0
        for it in group:
            _resolve(it, {k: v[start : start + it.n] for k, v in out.items()})
            start += it.n


def _resolve(item: _Item, out: Outputs) -> None:
    if not item.future.done():
        item.future.set_result(out)


def _fail(item: _Item, err: Exception) -> None:
    if not item.future.done():
        item.future.set_exception(err)
