"""Models: training data, training and promotion, the serving state of each catalog, the
recommendation pipeline and background retraining."""
