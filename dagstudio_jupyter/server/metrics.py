"""DAG Studio's metrics, served on Jupyter's own Prometheus endpoint (`/metrics`).

Jupyter serves every metric of `prometheus_client`'s default registry on
`/metrics` (authenticated unless `ServerApp.authenticate_prometheus` is off),
so defining them here is all it takes. Names start with `dagstudio_`.
Labels are bounded sets (statuses, reasons), never ids, users or tokens.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

LIVE_CONNECTIONS = Gauge(
    "dagstudio_live_connections",
    "Authenticated live WebSocket connections open now.",
)
LIVE_AUTH_FAILURES = Counter(
    "dagstudio_live_auth_failures_total",
    "Live WebSocket connections refused, by reason.",
    ["reason"],
)
EXECUTIONS = Gauge(
    "dagstudio_executions",
    "Executions known to the server's store, by status.",
    ["status"],
)
PHASE_DURATION = Histogram(
    "dagstudio_phase_duration_seconds",
    "Duration of phase attempts run by the server, by final status.",
    ["status"],
    buckets=(0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 1800, 3600),
)
STORE_COMMIT_SECONDS = Histogram(
    "dagstudio_store_commit_seconds",
    "Time to commit one group of events to the store.",
    buckets=(0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 5),
)
