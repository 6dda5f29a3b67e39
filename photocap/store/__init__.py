"""The index: schema and migrations (schema, postgres), the engine and its errors (engine), records
and rows (records) and their CRUD (index); search: the query language (query), its engines
(search_sqlite, search_postgres) chosen by search; listings without a query (listing)."""
