"""The sweep's pure core: classify each message of a conversation, then decide its state.

No I/O and no clock here: the engine (Gmail reads, the store, labels) calls these functions
with thread metadata, the desk's SLAs and the current time.
"""

from gmaildesk.sweep.classify import (
    CLASSIFIER_HEADERS,
    COUNTED,
    Classified,
    Kind,
    MessageMeta,
    Us,
    classify_message,
    classify_thread,
    customer_addresses,
)
from gmaildesk.sweep.headers import Headers
from gmaildesk.sweep.state import Policy, Previous, State, Verdict, decide, format_duration

__all__ = [
    "CLASSIFIER_HEADERS",
    "COUNTED",
    "Classified",
    "Kind",
    "MessageMeta",
    "Us",
    "Headers",
    "classify_message",
    "classify_thread",
    "customer_addresses",
    "Policy",
    "Previous",
    "State",
    "Verdict",
    "decide",
    "format_duration",
]
