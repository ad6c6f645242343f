"""The app without trace propagation: what carrying the trace context costs.

Everything else is `python -m app`; no trace header is read, no trace started, and the
messages carry neither `AWSTraceHeader` nor `traceparent` (`TracePolicy(..., propagate=False)`).
bench/app_throughput.py runs it as the `notrace` variant, with a `traceparent` header on every
request as for the app: app vs notrace is the whole throughput cost of propagation.

    python bench/notrace_app.py
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app import logs
from app.main import main, serve
from app.settings import Settings
from app.tracing import TracePolicy


async def run(settings: Settings, log_handler: logs.BufferedHandler) -> None:
    policy = TracePolicy(
        settings.trace_trust_client_sampling, settings.trace_sample_percent, propagate=False
    )
    await serve(settings, log_handler, trace_policy=policy)


if __name__ == "__main__":
    main(run)
