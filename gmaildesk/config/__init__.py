"""desk.yaml: the declared desk, loaded and validated offline into a ``Desk`` value.

desk = load_desk(Path("desk.yaml"))   # raises GmailDeskError "desk.yaml:14: departments[1].color: ..."
"""

from gmaildesk.config.desk import Desk
from gmaildesk.config.load import load_desk

__all__ = ["Desk", "load_desk"]
