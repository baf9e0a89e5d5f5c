"""Domain model: complaint lifecycle rules, entities and policies."""
