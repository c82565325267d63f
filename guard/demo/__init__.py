"""The local demonstration: an example service that breaks after its deploy, and the guard catching it."""
