"""Incident issues: one per failed deployment, with its evidence, filed and updated on GitHub."""
