"""What the guard tells its operators: redacted JSON logs, Prometheus metrics, Sentry."""
