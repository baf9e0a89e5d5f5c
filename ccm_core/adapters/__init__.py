"""Persistence adapters: database engine and repositories."""
