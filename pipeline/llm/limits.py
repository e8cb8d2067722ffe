"""What a run may spend and how fast: the hard budget and the per-minute pacing.

`Budget` stops a run before a request that could cross `--max-requests`, `--max-tokens` or `--max-cost`: each
request reserves its worst case (estimated prompt tokens plus the full output allowance) before it is sent, and
the reservation is replaced only by what the reply proves: usage the reply does not state counts at the worst case,
so requests in flight can never carry the total past a limit. A cost is known only for models priced in the config
(`[prices."model"]`, USD per million tokens); there are no built-in prices. Answers from the cache cost nothing.
A retry after a failure the server was not paid for (a 429, a 5xx, a refused connection) is not a new request; one
after an attempt that may have been billed (a timeout, an unreadable 200) is, and the lost attempt is settled at
its worst case (that is the client's call to make, see `pipeline.llm.client`).

`Pacer` spaces request starts for a requests-per-minute limit and holds them back while the tokens started in the
last minute would exceed a tokens-per-minute limit. It leaves the server's own 429s to the retry logic.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from pipeline.config import Price
from pipeline.errors import InputError


class OverBudget(Exception):
    """A request that would cross one of the run's limits (the option that set it, and its value): the run stops
    there, or waits while requests in flight hold reservations they may not need."""

    def __init__(self, option: str, value: str) -> None:
        self.option, self.value = option, value
        super().__init__(f"{option} {value} reached")


@dataclass(frozen=True)
class Reservation:
    prompt: int  # estimated prompt tokens
    output: int  # the whole output allowance
    cost: float
    price: Price | None = None  # the price it was reserved at, which its settlement uses too

    @property
    def tokens(self) -> int:
        return self.prompt + self.output


class Budget:
    """The limits of one run. The price is one model's, `priced` switches it for a stretch (a judge's), and `prices`
    gives models of their own a price by name, for runs whose requests name several models (an eval's systems)."""

    def __init__(
        self,
        max_requests: int | None = None,
        max_tokens: int | None = None,
        max_cost: float | None = None,
        price: Price | None = None,
        model: str = "",
        prices: dict[str, Price | None] | None = None,
    ) -> None:
        self.max_requests, self.max_tokens, self.max_cost = max_requests, max_tokens, max_cost
        self.price = self._checked(price, model) if prices is None else price
        self.prices = {name: self._checked(p, name) for name, p in (prices or {}).items()}
        self.requests = 0
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self._reserved_tokens = 0
        self._reserved_cost = 0.0
        self._spent_cost = 0.0

    def _checked(self, price: Price | None, model: str) -> Price | None:
        """The price if it has both rates; an InputError when --max-cost needs one that is missing."""
        priced = price is not None and price.input is not None and price.output is not None
        if self.max_cost is not None and not priced:
            raise InputError(
                f"--max-cost needs the price of {model!r}",
                hint=f'set input and output (USD per 1M tokens) under [prices."{model}"] in ftboot.toml',
            )
        return price if priced else None

    @contextmanager
    def priced(self, price: Price | None, model: str) -> Iterator[None]:
        """Cost what is reserved and settled inside at another model's price (a judge's, in a generation run)."""
        saved, self.price = self.price, self._checked(price, model)
        try:
            yield
        finally:
            self.price = saved

    def cost_of(self, prompt_tokens: int, completion_tokens: int, price: Price | None = None) -> float:
        price = price or self.price
        assert price is not None
        return (prompt_tokens * (price.input or 0) + completion_tokens * (price.output or 0)) / 1e6

    @property
    def cost(self) -> float | None:
        """Dollars spent so far, or None when no model of the run has a configured price."""
        return self._spent_cost if self.price or any(self.prices.values()) else None

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def reserve(self, prompt_tokens: int, max_output_tokens: int, model: str = "") -> Reservation:
        """Reserve one request's worst case, at the price of its `model` when `prices` names it; OverBudget names
        the limit it would cross."""
        worst = prompt_tokens + max_output_tokens
        price = self.prices.get(model, self.price)
        cost = self.cost_of(prompt_tokens, max_output_tokens, price) if price else 0.0
        if self.max_requests is not None and self.requests >= self.max_requests:
            raise OverBudget("--max-requests", f"{self.max_requests}")
        if self.max_tokens is not None and self.tokens + self._reserved_tokens + worst > self.max_tokens:
            raise OverBudget("--max-tokens", f"{self.max_tokens:,}")
        if self.max_cost is not None and self._spent_cost + self._reserved_cost + cost > self.max_cost:
            raise OverBudget("--max-cost", f"${self.max_cost:g}")
        self.requests += 1
        self._reserved_tokens += worst
        self._reserved_cost += cost
        return Reservation(prompt_tokens, max_output_tokens, cost, price)

    def settle(self, reservation: Reservation, prompt_tokens: int | None, completion_tokens: int | None) -> None:
        """Replace a reservation by what the request really used: zeros for a request that was never answered,
        None for a figure the reply does not state (or a lost answer), which counts at the reservation's worst."""
        prompt_tokens = reservation.prompt if prompt_tokens is None else prompt_tokens
        completion_tokens = reservation.output if completion_tokens is None else completion_tokens
        self._reserved_tokens -= reservation.tokens
        self._reserved_cost -= reservation.cost
        self.prompt_tokens += prompt_tokens
        self.completion_tokens += completion_tokens
        if reservation.price:
            self._spent_cost += self.cost_of(prompt_tokens, completion_tokens, reservation.price)


class Pacer:
    def __init__(self, requests_per_minute: int | None = None, tokens_per_minute: int | None = None) -> None:
        self.interval = 60.0 / requests_per_minute if requests_per_minute else 0.0
        self.tokens_per_minute = tokens_per_minute
        self._next_start = 0.0
        self._window: deque[tuple[float, int]] = deque()
        self._window_tokens = 0

    async def wait(self, tokens: int) -> None:
        """Return when a request of about `tokens` tokens may start."""
        if self.interval:
            now = time.monotonic()
            start = max(now, self._next_start)
            self._next_start = start + self.interval
            if start > now:
                await asyncio.sleep(start - now)
        if self.tokens_per_minute:
            while True:
                now = time.monotonic()
                while self._window and self._window[0][0] <= now - 60:
                    self._window_tokens -= self._window.popleft()[1]
                if not self._window or self._window_tokens + tokens <= self.tokens_per_minute:
                    break
                await asyncio.sleep(self._window[0][0] + 60 - now)
            self._window.append((time.monotonic(), tokens))
            self._window_tokens += tokens
