"""Online experiments: definitions, assignment, the impression log and the report."""
