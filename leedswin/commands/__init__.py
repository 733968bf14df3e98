"""One module per `leedswin` command group; each exposes ``register(app)``."""
