"""The index: SQLAlchemy models and migrations (schema), records and their CRUD (index), full-text search (search)."""
