"""Durable background jobs: verifying deployments step by step, on SQLite or Redis queues."""
