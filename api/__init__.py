"""The FastAPI service: devices, readings, aggregates, live feeds, keys and privacy scopes.

Privacy is structural, not per handler: every InfluxDB request goes through
``api.scoped.ScopedReadings`` built from the caller's key (``api.deps``), which
adds ``"privacy" = 'public'`` as a bound parameter for public keys and refuses a
statement without its privacy marker; live readings from the restricted MQTT tree
(or not labelled public) are queued only for housing/admin keys (``api.live``).
Home devices get a ward at most, never coordinates.
"""
