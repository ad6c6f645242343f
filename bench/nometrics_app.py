"""The app with its metric updates turned into no-ops: what the metrics cost.

Everything else is `python -m app`; every counter, gauge and histogram update the app makes
(prometheus_client's, app/metrics.py) does nothing, so `/metrics` stays at zero.
bench/app_throughput.py runs it as the `nometrics` variant: app vs nometrics is the whole
throughput cost of the metrics, an upper bound on what prometheus_client costs over any other
implementation (docs/app.md).

    python bench/nometrics_app.py
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from prometheus_client.metrics import MetricWrapperBase

from app import logs
from app.main import main, serve
from app.metrics import Metrics
from app.settings import Settings


class _Ignored:
    """Takes every update the app makes to a prometheus_client metric, and keeps nothing."""

    def labels(self, *_values: str) -> _Ignored:
        return self

    def inc(self, amount: float = 1) -> None:
        pass

    def dec(self, amount: float = 1) -> None:
        pass

    def observe(self, amount: float) -> None:
        pass


class NoMetrics(Metrics):
    def __init__(self) -> None:
        super().__init__()
        for name, value in list(vars(self).items()):
            if isinstance(value, MetricWrapperBase):
                setattr(self, name, _Ignored())


async def run(settings: Settings, log_handler: logs.BufferedHandler) -> None:
    await serve(settings, log_handler, metrics=NoMetrics())


if __name__ == "__main__":
    main(run)
