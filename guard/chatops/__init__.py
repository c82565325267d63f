"""ChatOps: `/guard` commands in comments on incident issues and pull requests."""
