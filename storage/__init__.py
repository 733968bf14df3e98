"""Everything that persists: InfluxDB writes and queries, the dead-letter store, the SQLite registry."""
