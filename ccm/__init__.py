"""The product's processes: the core and its channels wired into a web server, a worker and the CLI."""
