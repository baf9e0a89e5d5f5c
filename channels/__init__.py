"""Adapters between customers' channels, the assistant (Rasa) and the CCM core."""
