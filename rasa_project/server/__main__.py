"""``python -m server run …``: Rasa's own command line (``rasa run …``) with the product's changes to
the server installed first (``action_responses``, ``external_events``). Run from ``rasa_project/``
with it on PYTHONPATH, as the lock store needs."""

from rasa.__main__ import main

from server import action_responses, external_events

action_responses.install()
external_events.install()
main()
