"""Default target and deadlines, shared by the blocking and the asyncio clients."""

DEFAULT_TARGET = "localhost:50051"
# Training reads every event of a catalog, so it gets a deadline of its own by default.
TRAIN_TIMEOUT = 600.0
EVALUATE_TIMEOUT = 3600.0  # several candidates are trained and queried in turn
# A bulk load streams many batches over one call, so it gets a long deadline too.
BULK_TIMEOUT = 600.0
