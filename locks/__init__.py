"""Pessimistic edit locks, version guards and live updates for the Django admin."""
