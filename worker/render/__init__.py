"""Rendering compositions from samples (sorted audio, ...). Plain functions."""
