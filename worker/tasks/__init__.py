"""Thin Celery tasks, one module per stage: load inputs, call plain functions, record results."""
