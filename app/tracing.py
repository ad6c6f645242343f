"""The trace each accepted event travels in: the client's, or a new one.

A request's trace context comes from its `traceparent` header (W3C Trace Context), else its
`X-Amzn-Trace-Id` header (X-Ray), else a new trace is started. A header that is malformed
(or sent twice) is ignored as if absent: a new trace, never an error, so a client's broken
tracing can neither lose an event nor change what is enqueued apart from the trace.

The app is one hop: each request gets a span id of its own, which the message carries as
its parent (X-Ray's `Parent`), so the consumer's segment is a child of the app's request.

Sampling: the trace id and parent are always kept (they only correlate), but a client's
sampling decision is used only when `trust_client_sampling` is set, which the settings refuse
on a public app: anyone on the internet could otherwise make every event a sampled (billed,
stored) trace, the abuse X-Ray's own guidance warns of when it suggests stripping the header
of incoming requests. Otherwise the app decides, sampling `sample_percent` of the events.
"""

from __future__ import annotations

import random
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from multidict import CIMultiDictProxy

from app.settings import Settings
from contract import TraceContext, parse_traceparent, parse_xray

TRACEPARENT_HEADER = "traceparent"
XRAY_HEADER = "X-Amzn-Trace-Id"


@dataclass(frozen=True, slots=True)
class TracePolicy:
    """How the app treats incoming trace context (`Settings.trace_*`)."""

    trust_client_sampling: bool
    """Use the client's sampling decision when it sent one."""
    sample_percent: float
    """Events the app samples when the decision is its own, 0-100."""
    propagate: bool = True
    """False: no trace context at all, as before it existed (bench/notrace_app.py measures
    what propagation costs with it)."""

    @classmethod
    def of(cls, settings: Settings | type[Settings]) -> TracePolicy:
        """The policy `settings` configure (the class: the defaults)."""
        return cls(settings.trace_trust_client_sampling, settings.trace_sample_percent)


DEFAULT_POLICY: Final = TracePolicy.of(Settings)


def new_trace_id() -> str:
    # X-Ray's layout (the first 8 hex digits the epoch second), which is also a valid W3C id.
    # Not secret, so no cryptographic randomness: the ids only have to be unique.
    return f"{int(time.time()):08x}{random.getrandbits(96):024x}"


def new_span_id() -> str:
    return f"{random.getrandbits(64) or 1:016x}"


def _one(headers: Mapping[str, str], name: str) -> str | None:
    if isinstance(headers, CIMultiDictProxy):
        values = headers.getall(name, ())
        return values[0] if len(values) == 1 else None  # twice is malformed too
    return headers.get(name)


def incoming(headers: Mapping[str, str]) -> TraceContext | None:
    """The client's trace context, or None when it sent none or a malformed one."""
    value = _one(headers, TRACEPARENT_HEADER)
    if value is not None:
        parsed = parse_traceparent(value)
        if parsed is not None:
            return parsed
    value = _one(headers, XRAY_HEADER)
    return parse_xray(value) if value is not None else None


def request_trace(headers: Mapping[str, str], policy: TracePolicy) -> TraceContext | None:
    """The trace context the request's event is enqueued with (see the module docstring);
    None only when the policy does not propagate."""
    if not policy.propagate:
        return None
    client = incoming(headers)
    if client is None:
        return TraceContext(new_trace_id(), new_span_id(), _decide(policy))
    sampled = client.sampled
    if sampled is None or not policy.trust_client_sampling:
        sampled = _decide(policy)
    return TraceContext(client.trace_id, new_span_id(), sampled)


def _decide(policy: TracePolicy) -> bool:
    return random.random() * 100 < policy.sample_percent  # noqa: S311 - sampling, not cryptography
