"""Faults while events flow through the whole data path. After each: every acknowledged
event applied exactly once in effect (or in the DLQ), nothing else lost, the queue drained.

The app SIGTERM and handler-failure scenarios run on fauxqs (speed; no SQS restart needed);
the SQS-restart scenario on moto, whose in-process server keeps its queues across
stop()/start() as a real SQS outage would.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from local.servers import queue_depth
from local.stack import LocalSettings, LoopbackStack
from tests.e2e.faults import fails_first_time
from tests.e2e.helpers import (
    Load,
    applied_counts,
    dlq_depth,
    event,
    failure_reasons,
    inject_poison,
    read_all,
    report,
    start_faulty_stack,
)
from tests.wait import wait_until

OUTAGE_SECONDS = 3.0


def start_load(load: Load, bodies: list[dict[str, Any]]) -> threading.Thread:
    thread = threading.Thread(target=load.run, args=(bodies,), daemon=True)
    thread.start()
    return thread


def assert_settled(stack: LoopbackStack, accepted: set[str], poison: int = 0) -> dict[str, int]:
    """Wait until every acknowledged event is applied and the queue is empty; check that
    each was applied once and that only poison reached the DLQ. Returns the counts."""
    sqs = stack.sqs()
    wait_until(lambda: set(applied_counts(stack)) >= accepted, "every acknowledged event applied")
    wait_until(lambda: dlq_depth(sqs, stack.queues.dlq_url) >= poison, "poison in the DLQ")
    wait_until(lambda: queue_depth(sqs, stack.queues.url) == 0, "the queue drained")
    applied = applied_counts(stack)
    dead = read_all(sqs, stack.queues.dlq_url)
    assert set(applied) == accepted
    assert max(applied.values()) == 1, [k for k, n in applied.items() if n > 1]
    assert len(dead) == poison
    assert not {m["MessageAttributes"]["event_id"]["StringValue"] for m in dead} & accepted
    return {"applied": sum(applied.values()), "dlq": len(dead)}


@pytest.mark.slow
@pytest.mark.timeout(90)
def test_app_sigterm_mid_load_then_restart(start_stack: Any, fast_settings: LocalSettings) -> None:
    stack: LoopbackStack = start_stack(
        fast_settings, sqs_backend="fauxqs", dynamodb_backend="dynalite"
    )
    events = 400
    load = Load(stack.app_url, clients=8)
    thread = start_load(load, [event() for _ in range(events)])

    wait_until(lambda: len(load.result.accepted) >= events // 3, "a third acknowledged", 30)
    at_sigterm = len(load.result.accepted)
    app = stack.app
    assert app is not None
    exit_code = app.terminate()
    stopped = [
        json.loads(line)
        for line in app.log_path.read_text().splitlines()
        if '"message": "stopped"' in line
    ]
    time.sleep(0.5)  # clients meanwhile are refused, and retry
    stack.start_app()
    thread.join(60)
    assert not thread.is_alive()

    assert exit_code == 0
    assert stopped
    assert stopped[-1]["unsettled"] == 0
    assert at_sigterm < events  # the signal came in the middle of the load
    refused = load.result.statuses[0] + load.result.statuses[503]
    assert refused > 0
    assert len(load.result.accepted) == events
    counts = assert_settled(stack, load.result.accepted)
    report(
        "app-sigterm",
        events=events,
        accepted_before_sigterm=at_sigterm,
        refused_or_503_then_retried=refused,
        accepted=len(load.result.accepted),
        app_exit=exit_code,
        **counts,
    )


@pytest.mark.slow
@pytest.mark.timeout(90)
def test_handler_fails_transiently_and_crashes_once(
    start_stack: Any, fast_settings: LocalSettings, tmp_path: Path
) -> None:
    percent = 20
    fault_dir = tmp_path / "faults"
    stack = start_faulty_stack(
        start_stack,
        fast_settings,
        fault_dir,
        FAULT_FAIL_PERCENT=str(percent),
        FAULT_CRASH_ONCE="1",
    )
    poison = inject_poison(stack)
    bodies = [event() for _ in range(300)]
    failing = {b["id"] for b in bodies if fails_first_time(b["id"], percent)}
    result = Load(stack.app_url, clients=8).run(bodies)
    assert len(result.accepted) == len(bodies)

    counts = assert_settled(stack, result.accepted, poison=len(poison))
    reasons = failure_reasons(stack)
    failed_once = {p.name.removeprefix("failed-") for p in fault_dir.glob("failed-*")}
    cold_starts = sum(i.cold_starts for i in stack.invokers)
    crashed = sum(p.stats.failed_invocations for p in stack.pollers)

    assert failed_once == failing  # each chosen event failed once, and then was applied
    assert reasons["processing_error"] == len(failing)
    assert (fault_dir / "crashed").exists()
    assert crashed >= 1
    # The crash cost one environment (more only if a busy machine made an invocation time out).
    assert cold_starts >= fast_settings.max_concurrency + 1
    report(
        "handler-faults",
        events=len(bodies),
        transient_failures=len(failing),
        processing_error_lines=reasons["processing_error"],
        crashed_invocations=crashed,
        cold_starts=cold_starts,
        poison=len(poison),
        **counts,
    )


@pytest.mark.slow
@pytest.mark.timeout(90)
def test_sqs_outage_while_the_app_serves(start_stack: Any, fast_settings: LocalSettings) -> None:
    stack: LoopbackStack = start_stack(
        fast_settings, sqs_backend="moto", dynamodb_backend="dynalite"
    )
    assert stack.sqs_server is not None
    events = 200
    load = Load(stack.app_url, clients=8, retry_for_seconds=45)
    thread = start_load(load, [event() for _ in range(events)])

    wait_until(lambda: len(load.result.accepted) >= events // 4, "a quarter acknowledged", 30)
    stack.sqs_server.stop()
    down_at = time.monotonic()
    accepted_at_outage = len(load.result.accepted)
    wait_until(lambda: load.result.statuses[503] >= 5, "503s while SQS is down", 20)
    # Requests already sending when the server went away may still end in 202; after
    # that, nothing is acknowledged until SQS is back.
    time.sleep(0.5)
    accepted_settled_down = len(load.result.accepted)
    time.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - down_at)))
    ready = requests.get(f"{stack.app_url}/readyz", timeout=10)
    accepted_while_down = len(load.result.accepted) - accepted_settled_down
    answered_503_while_down = load.result.statuses[503]
    stack.sqs_server.start()
    outage = time.monotonic() - down_at
    thread.join(60)
    assert not thread.is_alive()

    assert ready.status_code == 503
    assert accepted_while_down == 0
    assert len(load.result.accepted) == events
    receive_errors = sum(p.stats.receive_errors for p in stack.pollers)
    counts = assert_settled(stack, load.result.accepted)
    report(
        "sqs-outage",
        events=events,
        outage_s=round(outage, 1),
        answered_503_while_down=answered_503_while_down,
        answered_503=load.result.statuses[503],
        no_answer=load.result.statuses[0],
        accepted_in_first_half_second=accepted_settled_down - accepted_at_outage,
        accepted_while_down=accepted_while_down,
        poller_receive_errors=receive_errors,
        **counts,
    )
