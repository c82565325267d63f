"""A local GitHub REST API backed by real git repositories: the GitHub of the tests and the demo."""

from guard.sandbox.auth import AppCredentials, generate_app_key, make_app_jwt
from guard.sandbox.faults import FaultKind
from guard.sandbox.repo_ops import Author
from guard.sandbox.server import Sandbox

__all__ = ["AppCredentials", "Author", "FaultKind", "Sandbox", "generate_app_key", "make_app_jwt"]
