"""The web console: pages and decisions over the same actions the CLI calls."""
