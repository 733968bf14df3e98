"""The FastAPI service: devices, readings, aggregates, live feeds, keys and privacy scopes."""
