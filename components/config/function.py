"""The function's config section (components/function.py): the queue, its DLQ, the Lambda
and its event source mapping."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

from components import limits
from components.config.base import Problem, Section, rule, setting
from components.config.kinds import Choice, Integer

FunctionArchitecture = Literal["arm64", "x86_64"]


class FunctionConfig(Section):
    """The queue, its DLQ, the Lambda and its event source mapping (components/function.py)."""

    architecture: FunctionArchitecture = setting(
        "functionArchitecture",
        Choice(limits.FUNCTION_ARCHITECTURES),
        "Lambda architecture.",
        default="arm64",
    )
    memory_mb: int = setting(
        "functionMemoryMb", Integer(*limits.FUNCTION_MEMORY), "Lambda memory in MB.", default=256
    )
    timeout_seconds: int = setting(
        "functionTimeoutSeconds",
        Integer(*limits.FUNCTION_TIMEOUT),
        "Lambda timeout in seconds; the queue's visibility timeout is derived from it "
        "(6 x timeout + batching window).",
        default=30,
    )
    reserved_concurrency: int = setting(
        "functionReservedConcurrency",
        Integer(limits.MAX_CONCURRENCY[0]),
        "Reserved concurrency of the Lambda, at least maxConcurrency (so the poller is never "
        "throttled).",
        default=10,
    )
    batch_size: int = setting(
        "batchSize",
        Integer(*limits.BATCH_SIZE),
        "Messages per Lambda invocation; above 10 needs batchingWindowSeconds >= 1.",
        default=10,
    )
    batching_window_seconds: int = setting(
        "batchingWindowSeconds",
        Integer(*limits.BATCHING_WINDOW),
        "Seconds the poller may wait to fill a batch.",
        default=0,
    )
    max_concurrency: int = setting(
        "maxConcurrency",
        Integer(*limits.MAX_CONCURRENCY),
        "Maximum concurrent invocations the SQS event source may start.",
        default=5,
    )
    max_receive_count: int = setting(
        "maxReceiveCount",
        Integer(*limits.MAX_RECEIVE_COUNT),
        "Receives before a message moves to the dead-letter queue.",
        default=5,
    )
    queue_retention_seconds: int = setting(
        "queueRetentionSeconds",
        Integer(*limits.QUEUE_RETENTION),
        "Message retention of the main queue in seconds, longer than the derived visibility "
        "timeout. The DLQ always keeps messages 14 days.",
        default=345_600,
    )
    powertools_layer_version: int = setting(
        "powertoolsLayerVersion",
        Integer(1),
        "Version of AWS's published Powertools for AWS Lambda (Python) v3 layer, pinned.",
        default=27,
    )

    @property
    def visibility_timeout_seconds(self) -> int:
        """The queue's visibility timeout, derived from the function (see limits). The
        bounds keep it below SQS's maximum of 43200 s: 6 x 900 + 300 = 5700."""
        return limits.visibility_timeout_for(self.timeout_seconds, self.batching_window_seconds)

    @property
    def poison_message_age_seconds(self) -> int:
        """How old one poison message can make the queue's oldest message look (see limits):
        the oldest-message alarm's threshold must stay above it."""
        return limits.poison_message_age(self.max_receive_count, self.visibility_timeout_seconds)

    @rule
    def _large_batches_need_a_window(self) -> Iterator[Problem]:
        if self.batch_size > limits.BATCH_SIZE_WITHOUT_WINDOW and self.batching_window_seconds < 1:
            yield Problem(
                "batching_window_seconds",
                self.batching_window_seconds,
                f"must be at least 1 when {self.key('batch_size')} ({self.batch_size}) is above "
                f"{limits.BATCH_SIZE_WITHOUT_WINDOW} (AWS Lambda's rule for SQS)",
            )

    @rule
    def _reserved_covers_the_poller(self) -> Iterator[Problem]:
        if self.reserved_concurrency < self.max_concurrency:
            yield Problem(
                "reserved_concurrency",
                self.reserved_concurrency,
                f"must be at least {self.key('max_concurrency')} ({self.max_concurrency}); below "
                "it the SQS poller's invocations are throttled and messages go to the DLQ early",
            )

    @rule
    def _retention_outlasts_visibility(self) -> Iterator[Problem]:
        visibility = self.visibility_timeout_seconds
        if self.queue_retention_seconds <= visibility:
            yield Problem(
                "queue_retention_seconds",
                self.queue_retention_seconds,
                f"must be longer than the derived visibility timeout ({visibility} s = 6 x "
                f"{self.key('timeout_seconds')} + {self.key('batching_window_seconds')})",
            )
