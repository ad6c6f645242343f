"""One poison message raises one alarm (the DLQ's), never the oldest-message alarm too, for
every config the model accepts.

SQS stops counting a message in ApproximateAgeOfOldestMessage once it has been received three
times (SQS developer guide, "Available CloudWatch metrics for Amazon SQS"), and each receive
hides it for the queue's visibility timeout (6 x functionTimeoutSeconds +
batchingWindowSeconds, as AWS's Lambda guide recommends). So one poison message can make the
oldest message look min(3, maxReceiveCount) x visibility old; the threshold must stay above.
"""

from __future__ import annotations

import itertools

import pytest

from components.config import ConfigError, StackConfig, stack_config_from_files
from tests.infra.harness import ROOT, run

KEY = "oldestMessageAlarmSeconds"


def load(**overrides: int) -> StackConfig | ConfigError:
    """The dev stack's config with `overrides`, or the ConfigError it raises."""
    values: dict[str, str | None] = {"clusterPublicAccessCidrs": "[]"}
    values.update({key: str(value) for key, value in overrides.items()})
    try:
        return stack_config_from_files("dev", ROOT, values)
    except ConfigError as e:
        return e


def poison_age(timeout: int, window: int, receives: int) -> int:
    return min(3, receives) * (6 * timeout + window)


@pytest.mark.parametrize(
    ("timeout", "window", "receives", "bound"),
    [
        (30, 0, 5, 540),  # the defaults: 3 x 180 s
        (30, 10, 5, 570),  # the batching window is part of the visibility timeout
        (30, 0, 2, 360),  # moved to the DLQ after its second receive
        (30, 0, 1, 180),
        (40, 0, 3, 720),  # a longer timeout: the default 600 s would page for one message
    ],
)
def test_the_threshold_must_be_above_the_age_of_one_poison_message(
    timeout: int, window: int, receives: int, bound: int
) -> None:
    base = {
        "functionTimeoutSeconds": timeout,
        "batchingWindowSeconds": window,
        "maxReceiveCount": receives,
    }
    at_bound = load(**base, **{KEY: bound})
    assert isinstance(at_bound, ConfigError)
    [message] = at_bound.problems
    assert message.startswith(f"ecr-eks-lambda:{KEY} = {bound}: must be above {bound} s = ")
    assert f"min(3, maxReceiveCount ({receives}))" in message
    assert "one poison message would raise the alarm" in message
    above = load(**base, **{KEY: bound + 1})
    assert not isinstance(above, ConfigError), above
    assert above.alarms.oldest_message_seconds == bound + 1


def test_a_longer_timeout_with_the_default_threshold_is_refused_with_nothing_created() -> None:
    result = run("dev", {"functionTimeoutSeconds": "40"})
    assert isinstance(result.error, ConfigError)
    assert result.error.problems == (
        "ecr-eks-lambda:oldestMessageAlarmSeconds = 600: must be above 720 s = min(3, "
        "maxReceiveCount (5)) x the derived visibility timeout (240 s): SQS counts a message in "
        "ApproximateAgeOfOldestMessage until its third receive, so one poison message would "
        "raise the alarm",
    )
    assert result.records == []


def test_every_accepted_config_keeps_the_threshold_above_one_poison_message() -> None:
    accepted = 0
    for timeout, window, receives, threshold in itertools.product(
        (1, 30, 90, 100, 900), (0, 1, 300), (1, 2, 3, 4, 1000), (60, 600, 601, 3600, 16201)
    ):
        loaded = load(
            functionTimeoutSeconds=timeout,
            batchingWindowSeconds=window,
            maxReceiveCount=receives,
            queueRetentionSeconds=1_209_600,
            **{KEY: threshold},
        )
        if not isinstance(loaded, ConfigError):
            accepted += 1
            assert threshold > poison_age(timeout, window, receives)
        else:
            assert threshold <= poison_age(timeout, window, receives), loaded.problems
    assert 0 < accepted < 5 * 3 * 5 * 5  # both outcomes occur
