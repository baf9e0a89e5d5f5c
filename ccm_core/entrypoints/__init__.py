"""Entry points into the core: HTTP API and the ``ccm`` command line."""
