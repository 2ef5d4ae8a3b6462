"""Metrics: gallery-vs-probe evaluation, open-set calibration, silhouette IoU."""
