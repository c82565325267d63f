"""Alembic migrations of the guard's database (a package so that installs ship them)."""
