"""Celery tasks: thin adapters (ids in -> session -> one action -> retry mapping)."""
