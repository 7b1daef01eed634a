"""The InfoGap server: a thin gRPC transport (``transport``) over a core (``core``) that owns the
DuckDB store, the plugin host and the serving models."""
