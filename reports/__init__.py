"""The monthly management report: figures from the core, rendered as PDF, HTML and CSV with charts."""
