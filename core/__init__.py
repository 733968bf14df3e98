"""Shared foundations with no platform imports: the error hierarchy and typed settings."""
