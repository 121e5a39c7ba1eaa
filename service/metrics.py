"""Metrics: counters and histograms kept in Redis, so that every process adds to the same numbers.

Workers serve no HTTP, and a web pod sees only its own requests; so what callcue counts lives in
one Redis hash (``cc:metrics``), incremented in the same atomic step as the state change it
describes, and ``GET /metrics`` renders it with prometheus-client. These series are
deployment-wide: every web pod reports the same values (aggregate with ``max``, not ``sum``).
Per-process series (receiver latency) use prometheus-client's own registry as usual.

Field names encode the series: ``<name>|<label>=<value>|...``; a histogram is its ``le`` buckets
(the ``+Inf`` one is its count) and ``_sum``, in Prometheus's own layout.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping

from prometheus_client import Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

METRICS_KEY = "cc:metrics"
GAP_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)

HELP = {
    "callcue_callbacks": "callback events received, by event type and what callcue did with them",
    "callcue_callbacks_refused": "callback requests or events refused, by reason",
    "callcue_plays": "play requests sent to ACS, by result (accepted, or the HTTP status; 0: no answer)",
    "callcue_retries": "plays scheduled again after a retryable failure",
    "callcue_watchdog_timeouts": "plays whose result never came in time",
    "callcue_sequences_ended": "sequences that reached a terminal status, by status",
    "callcue_gap_seconds": "time from a play being due (previous result + pause) to its request leaving",
}

RECEIVER_LATENCY = Histogram(
    "callcue_receiver_seconds",
    "time to handle one callback request in this web process (auth, parse, store)",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0),
)


def series(name: str, **labels: str) -> str:
    return "|".join([name, *(f"{k}={v}" for k, v in sorted(labels.items()))])


def observe(counts: Counter[str], sums: dict[str, float], name: str, value: float) -> None:
    """Add one observation of a histogram to pending increments."""
    for bound in GAP_BUCKETS:
        if value <= bound:
            counts[series(name + "_bucket", le=str(bound))] += 1
    counts[series(name + "_bucket", le="+Inf")] += 1  # also the histogram's count
    key = series(name + "_sum")
    sums[key] = sums.get(key, 0.0) + value


def _parse(field: str) -> tuple[str, dict[str, str]]:
    name, *pairs = field.split("|")
    return name, dict(pair.split("=", 1) for pair in pairs)


class RedisCollector(Collector):
    """Renders the ``cc:metrics`` hash (read by the caller) and the live gauges as Prometheus metrics."""

    def __init__(self, values: Mapping[str, float], gauges: Mapping[str, float]) -> None:
        self.values = values
        self.gauges = gauges

    def collect(self) -> Iterator[Metric]:
        counters: dict[str, CounterMetricFamily] = {}
        buckets: dict[str, list[tuple[str, float]]] = {}
        sums: dict[str, float] = {}
        for field, value in sorted(self.values.items()):
            name, labels = _parse(field)
            if name.endswith("_bucket"):
                buckets.setdefault(name.removesuffix("_bucket"), []).append((labels["le"], value))
            elif name.endswith("_sum"):
                sums[name.removesuffix("_sum")] = value
            else:
                family = counters.get(name)
                if family is None:
                    family = counters[name] = CounterMetricFamily(name, HELP.get(name, name), labels=sorted(labels))
                family.add_metric([labels[k] for k in sorted(labels)], value)
        yield from counters.values()
        for name, items in buckets.items():
            ordered = sorted(items, key=lambda item: float(item[0]))
            yield HistogramMetricFamily(name, HELP.get(name, name), buckets=ordered, sum_value=sums.get(name, 0.0))
        for name, value in self.gauges.items():
            yield GaugeMetricFamily(name, name.replace("_", " "), value=value)
