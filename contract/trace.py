"""Trace context, in the two forms it travels in: W3C Trace Context and X-Ray's header.

One trace id, two spellings: W3C's `traceparent` carries it as 32 lower-case hex digits, X-Ray
as `1-<first 8>-<last 24>` (AWS's OpenTelemetry propagator maps them onto each other this way).
The producer sends both with each message: `AWSTraceHeader` (the SQS message system attribute
Lambda's SQS integration reads) and the `traceparent` message attribute (OpenTelemetry's
messaging convention, which local SQS stand-ins keep). The consumer reads either.

- W3C: https://www.w3.org/TR/trace-context/#traceparent-header
- X-Ray: https://docs.aws.amazon.com/xray/latest/devguide/xray-concepts.html#xray-concepts-tracingheader

The parsers return None for anything malformed: a caller starts a new trace instead.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

# version-traceid-parentid-flags; a version above 00 may append fields after another "-".
_TRACEPARENT: Final = re.compile(
    r"^(?P<version>[0-9a-f]{2})-(?P<trace>[0-9a-f]{32})-(?P<parent>[0-9a-f]{16})"
    r"-(?P<flags>[0-9a-f]{2})(?P<rest>-.*)?$"
)
_XRAY_ROOT: Final = re.compile(r"^1-(?P<time>[0-9a-f]{8})-(?P<random>[0-9a-f]{24})$")
_SPAN_ID: Final = re.compile(r"^[0-9a-f]{16}$")
_NO_TRACE: Final = "0" * 32
_NO_SPAN: Final = "0" * 16
_SAMPLED_FLAG: Final = 0x01


@dataclass(frozen=True, slots=True)
class TraceContext:
    """One hop's trace context."""

    trace_id: str
    """The trace, 32 lower-case hex digits (W3C's spelling)."""
    parent_id: str
    """The span (X-Ray: segment) the next hop is a child of, 16 lower-case hex digits."""
    sampled: bool | None
    """The sampling decision; None when the sender made none (X-Ray's `Sampled=?` or none)."""

    @property
    def xray_trace_id(self) -> str:
        """The trace id as X-Ray spells it, `1-xxxxxxxx-xxxxxxxxxxxxxxxxxxxxxxxx`: what the app
        and the handler log as `trace_id`."""
        return f"1-{self.trace_id[:8]}-{self.trace_id[8:]}"

    def traceparent(self) -> str:
        """The W3C `traceparent` value (version 00); no decision counts as not sampled."""
        return f"00-{self.trace_id}-{self.parent_id}-{'01' if self.sampled else '00'}"

    def aws_trace_header(self) -> str:
        """The X-Ray header value, as SQS's `AWSTraceHeader` takes it."""
        sampled = "1" if self.sampled else "0"
        return f"Root={self.xray_trace_id};Parent={self.parent_id};Sampled={sampled}"


def parse_traceparent(value: str) -> TraceContext | None:
    """A W3C `traceparent` value, or None if it is not one (version ff, all-zero ids,
    upper-case hex, extra fields on version 00 are all malformed, as the spec says)."""
    match = _TRACEPARENT.match(value.strip(" \t"))
    if match is None:
        return None
    version, trace, parent = match["version"], match["trace"], match["parent"]
    if version == "ff" or (version == "00" and match["rest"] is not None):
        return None
    if trace == _NO_TRACE or parent == _NO_SPAN:
        return None
    return TraceContext(trace, parent, bool(int(match["flags"], 16) & _SAMPLED_FLAG))


def parse_xray(value: str) -> TraceContext | None:
    """An X-Ray trace header (`Root=1-...;Parent=...;Sampled=0|1|?`, in any order, other
    fields such as `Self=` ignored), or None if it has no valid Root or a malformed
    Parent or Sampled. Without a Parent, the parent id is the empty string."""
    root = parent = sampled = None
    for part in value.split(";"):
        key, sep, field = part.strip(" \t").partition("=")
        if not sep:
            if key:
                return None
            continue
        if key == "Root":
            root = field
        elif key == "Parent":
            parent = field
        elif key == "Sampled":
            sampled = field
    if root is None:
        return None
    match = _XRAY_ROOT.match(root)
    if match is None or match["time"] + match["random"] == _NO_TRACE:
        return None
    if parent is not None and (not _SPAN_ID.match(parent) or parent == _NO_SPAN):
        return None
    if sampled not in (None, "0", "1", "?"):
        return None
    decision = None if sampled in (None, "?") else sampled == "1"
    return TraceContext(match["time"] + match["random"], parent or "", decision)
