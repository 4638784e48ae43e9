"""Constants the CLI needs without loading the sandbox itself."""

DEFAULT_USER = "support@example.com"
