"""Use cases, store, plugin host and model serving, free of any gRPC type."""
