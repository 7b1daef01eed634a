"""The HTTP listener beside gRPC: the Connect protocol for the same RPCs, health for load
balancers, and the HTTP-only endpoints (CDP intake, metrics, the console)."""
