"""Operations: Prometheus metrics, health and readiness, structured logs, shutdown.

Other packages record through `rempart.observability.metrics` (for instance
`record_guard_decision(action)`); `install_operations` puts the routes, the latency
middleware and the shutdown flush into an app; `configure_logging` sets up structlog
for a server process.
"""
