"""Custom NLU components of the assistant (loaded by Rasa with ``rasa_project`` on PYTHONPATH)."""
