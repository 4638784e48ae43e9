"""Environment variables gmaildesk reads, in one light module (the CLI imports it at start-up)."""

ENDPOINT_ENV = "GMAILDESK_ENDPOINT"
SERVICE_ACCOUNT_ENV = "GMAILDESK_SERVICE_ACCOUNT"
USER_ENV = "GMAILDESK_USER"
