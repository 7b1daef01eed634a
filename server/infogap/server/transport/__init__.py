"""gRPC transport: servicers that translate protobuf to domain objects and delegate to the core."""
