"""The HTML Gmail stores for a vacation responder and a send-as signature.

"Gmail will sanitize the HTML before storing it" (discovery document, VacationSettings.responseBodyHtml
and SendAs.signature; sendAs.create: "Gmail will sanitize the HTML before saving it with the alias").
Google does not publish its rules, so the sandbox uses a maintained sanitiser (nh3, the Python binding
of the Ammonia crate) with an e-mail-minded allow-list. What matters for clients is what Gmail's does
too: entities come back as characters, unclosed tags come back closed, scripts, event handlers and
unsafe URLs are gone - so what is read back is not byte for byte what was sent.
"""

from __future__ import annotations

import nh3

# Tags and attributes HTML mail commonly uses (Gmail's own signature editor writes <div dir="ltr">,
# <font color> and inline styles); everything else is dropped, its text kept.
_TAGS = nh3.ALLOWED_TAGS | {"font"}
_ATTRIBUTES = {
    "*": {"style", "dir", "title", "align", "lang"},
    "a": {"href", "name", "target"},
    "img": {"src", "alt", "width", "height"},
    "font": {"color", "face", "size"},
    "td": {"colspan", "rowspan", "width", "valign"},
    "th": {"colspan", "rowspan", "width", "valign"},
    "table": {"width", "border", "cellpadding", "cellspacing"},
}
_URL_SCHEMES = {"http", "https", "mailto", "tel"}
_STYLE_PROPERTIES = {
    "color",
    "background-color",
    "font-family",
    "font-size",
    "font-weight",
    "font-style",
    "text-align",
    "text-decoration",
    "line-height",
    "margin",
    "margin-top",
    "margin-bottom",
    "margin-left",
    "margin-right",
    "padding",
    "border",
    "width",
    "height",
    "vertical-align",
}


def sanitize_html(html: str) -> str:
    """The form Gmail keeps of `html`: well-formed, entities decoded, only harmless markup left."""
    return nh3.clean(
        html,
        tags=_TAGS,
        attributes=_ATTRIBUTES,
        url_schemes=_URL_SCHEMES,
        filter_style_properties=_STYLE_PROPERTIES,
        link_rel="noopener noreferrer",
    )
