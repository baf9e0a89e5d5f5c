"""CCM core: the complaint lifecycle, its persistence and its service layer.

Everything outside this package (chat actions, channels, Slack, surveys) calls
``ccm_core.service_layer.services``; nothing here knows about those adapters.
"""
