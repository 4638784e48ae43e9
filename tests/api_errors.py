"""What a failing Gmail call answered, as the real client reports it."""

from __future__ import annotations

import pytest
from googleapiclient.errors import HttpError


def api_error(call) -> tuple[int, str, str]:
    """Execute `call`, which must fail: (HTTP status, errors[0].reason, errors[0].message)."""
    with pytest.raises(HttpError) as caught:
        call.execute()
    detail = caught.value.error_details[0]
    return caught.value.status_code, detail["reason"], detail["message"]
