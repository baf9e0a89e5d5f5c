"""The assistant's custom actions (rasa-sdk), one module per topic.

Every change goes through ``ccm_core``'s service layer; nothing here writes the
database itself. Run with ``python -m rasa_sdk --actions actions``.
"""
