"""The alarms' config section (components/alarms.py)."""

from __future__ import annotations

from components.config.base import Section, setting
from components.config.kinds import Integer, OptionalEmail


class AlarmsConfig(Section):
    """The alarms and their topic (components/alarms.py)."""

    oldest_message_seconds: int = setting(
        "oldestMessageAlarmSeconds",
        Integer(60),
        "Alarm when the oldest message in the queue is older than this many seconds (SQS "
        "publishes the metric once a minute); above min(3, maxReceiveCount) x the derived "
        "visibility timeout, so one poison message alone does not raise it.",
        default=600,
    )
    email: str | None = setting(
        "alarmEmail",
        OptionalEmail(),
        "Email address subscribed to the alarm topic; empty means no subscription.",
        default="",
    )
