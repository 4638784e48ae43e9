"""The real googleapiclient Gmail service over HTTP, as the tests build it against a sandbox."""

from __future__ import annotations

import json
from typing import Any

import httplib2
from googleapiclient.discovery import build, build_from_document
from googleapiclient.discovery_cache import get_static_doc


def gmail_users(url: str) -> Any:
    """`users()` of the Gmail service at *url* (a sandbox's), from the discovery document bundled in the client."""
    return build(
        "gmail",
        "v1",
        http=httplib2.Http(timeout=30),
        static_discovery=True,
        client_options={"api_endpoint": url},
    ).users()


def upload_users(url: str) -> Any:
    """The same with rootUrl rewritten, so /upload/ URLs keep the sandbox's http:// scheme."""
    doc = json.loads(get_static_doc("gmail", "v1"))
    doc["rootUrl"] = doc["baseUrl"] = url
    doc.pop("mtlsRootUrl", None)
    return build_from_document(doc, http=httplib2.Http(timeout=30)).users()
