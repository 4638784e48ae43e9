"""The desk's time zone: what `timezone:` in desk.yaml names, else the machine's own."""

from __future__ import annotations

import zoneinfo

UTC = zoneinfo.ZoneInfo("UTC")


def desk_zone(name: str | None) -> zoneinfo.ZoneInfo:
    """*name* (checked by config.fields.TimeZone), or the machine's zone: $TZ, /etc/localtime, the registry."""
    if name is not None:
        return zoneinfo.ZoneInfo(name)
    import tzlocal

    try:
        return tzlocal.get_localzone()
    except (LookupError, ValueError):  # $TZ or /etc/localtime names no zone Python knows: times stay in UTC
        return UTC
