"""deploy-guard: verify every deployment, roll it back and file the incident when it fails."""

__version__ = "0.1.0"
