"""Scores shared by every kind and by the report: metrics from the kinds' specs, text metrics,
calibration, constant-answer baselines, statistics of examples."""
