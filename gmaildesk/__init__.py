"""gmaildesk: run a small support desk from a shared Gmail mailbox."""

__version__ = "0.1.0"
