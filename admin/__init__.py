"""The admins' side: the console where they teach the assistant, and its retrain pipeline.

``console`` is the web console (mounted at ``/admin`` by ``ccm serve``), ``project`` reads and
writes the assistant's Rasa project, ``training`` trains, evaluates and deploys a candidate
model, ``cli`` holds the ``ccm admin`` and ``ccm nlu`` commands.
"""
