"""Feedback intake: validated event batches are written to the store by one group-commit writer."""
