"""The `leedswin` command and what it orchestrates: local servers and the `up` demo."""
