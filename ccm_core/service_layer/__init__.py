"""Service layer: one function per use case, each in one transaction."""
