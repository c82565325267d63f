"""The local demonstration: a service that breaks after its deploy, and the guard catching it."""
