"""Differential privacy: the budget ledger that caps what aggregates may spend."""
