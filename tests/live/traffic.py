"""A bounded open-loop client: requests at fixed rates for a fixed time, each one recorded.

Requests leave on a fixed schedule (``start + k / rate``) whatever the answers, from a small
thread pool, so a slow answer does not slow the load. Which pod a request goes to and which fault
it carries are chosen by exact fractions (the k-th of n gets it when ``floor(k*p)`` steps), so
every run sends the same mix; every request is recorded with its send and answer times (Unix
seconds, as Prometheus stamps samples), its status and its latency as the client saw it.
"""

from __future__ import annotations

import http.client
import math
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

FAULT_HEADER = "x-live-fault"


@dataclass(frozen=True)
class Endpoint:
    pod: str
    model: str
    namespace: str
    host: str
    port: int
    path: str
    body: bytes
    bad_body: bytes = b""  # sent for fault "bad": a request the server must refuse with a 4xx


@dataclass(frozen=True)
class Sent:
    phase: str
    pod: str
    model: str
    namespace: str
    fault: str  # "", "error", "slow" (x-live-fault header) or "bad" (a malformed body)
    t_sent: float
    t_done: float
    status: int  # 0: no HTTP answer
    latency: float  # seconds, as the client measured it


class Fraction:
    """Says yes to exactly floor(n * share) of the first n calls, spread evenly."""

    def __init__(self, share: float) -> None:
        self.share, self.calls = share, 0

    def take(self) -> bool:
        self.calls += 1
        return math.floor(self.calls * self.share) > math.floor((self.calls - 1) * self.share)


@dataclass(frozen=True)
class Share:
    """An endpoint's share of a stream's requests, and the share of those that carry each fault."""

    endpoint: Endpoint
    weight: float
    faults: Mapping[str, float] = field(default_factory=dict)


@dataclass
class Stream:
    """One model's traffic: ``rate`` requests per second split over weighted endpoints."""

    rate: float
    shares: Sequence[Share]  # weights sum to 1
    _pickers: list[Fraction] = field(default_factory=list, init=False)
    _faults: dict[int, list[tuple[str, Fraction]]] = field(default_factory=dict, init=False)

    def pick(self) -> tuple[Endpoint, str]:
        if not self._pickers:
            # Weighted choice by exact fractions: share i takes w_i / (the weight not yet taken).
            remaining = 1.0
            for share in self.shares[:-1]:
                self._pickers.append(Fraction(share.weight / remaining if remaining > 0 else 0.0))
                remaining -= share.weight
        index = next((i for i, picker in enumerate(self._pickers) if picker.take()), len(self.shares) - 1)
        share = self.shares[index]
        faults = self._faults.setdefault(index, [(name, Fraction(p)) for name, p in share.faults.items()])
        return share.endpoint, next((name for name, fraction in faults if fraction.take()), "")


def send(endpoint: Endpoint, fault: str, phase: str, timeout: float = 10.0) -> Sent:
    headers = {"content-type": "application/json"}
    if fault in ("error", "slow"):
        headers[FAULT_HEADER] = fault
    body = endpoint.bad_body if fault == "bad" else endpoint.body
    t_sent, start = time.time(), time.perf_counter()
    status = 0
    connection = http.client.HTTPConnection(endpoint.host, endpoint.port, timeout=timeout)
    try:
        connection.request("POST", endpoint.path, body=body, headers=headers)
        response = connection.getresponse()
        response.read()
        status = response.status
    except (OSError, http.client.HTTPException):
        status = 0
    finally:
        connection.close()
    latency = time.perf_counter() - start
    return Sent(phase, endpoint.pod, endpoint.model, endpoint.namespace, fault, t_sent, time.time(), status, latency)


def run_phase(phase: str, streams: Sequence[Stream], seconds: float, pool: ThreadPoolExecutor) -> list[Sent]:
    """Send ``rate * seconds`` requests per stream on a fixed schedule; return when all are answered."""
    schedule = sorted(
        (k / stream.rate, index) for index, stream in enumerate(streams) for k in range(round(stream.rate * seconds))
    )
    futures: list[Future[Sent]] = []
    start = time.monotonic()
    for offset, index in schedule:
        delay = start + offset - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        endpoint, fault = streams[index].pick()
        futures.append(pool.submit(send, endpoint, fault, phase))
    return [future.result() for future in futures]
