"""One module per schema revision, oldest first; alembic reads them, nothing imports them."""
