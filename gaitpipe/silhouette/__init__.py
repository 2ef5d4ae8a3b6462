"""Silhouette normalisation (OpenGait-exact) and per-track silhouette assembly."""
