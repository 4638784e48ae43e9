"""Talking to Gmail: connection, retries, batching, errors, search syntax."""
