"""Satisfaction surveys (09/10): the worker's schedule and the survey page behind a signed link."""
