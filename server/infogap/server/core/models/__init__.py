"""Models: training data, training and promotion, the Train use case (``train``), the serving
state of each catalog and its registry (``registry``), the recommendation pipeline and its use
cases (``recommend``), and background retraining."""
