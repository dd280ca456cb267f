"""Mail bodies: every mail coordxl sends is one template of ``coordxl/mail/`` in its two forms, plain
text (``<name>.txt``) and HTML (``<name>.html``, autoescaped), rendered here and nowhere else.

The digests, escalations, the weekly, the administrator's health list and the meeting mails all call
:func:`render` with the template's name, what it shows and the language; the templates get ``t`` (the
message table in that language) and ``lang`` without their callers building them.
"""

from __future__ import annotations

import jinja2
from markupsafe import Markup, escape

from ..messages import text

_LOADER = jinja2.PackageLoader("coordxl", "mail")
_HTML = jinja2.Environment(loader=_LOADER, autoescape=jinja2.select_autoescape(
    enabled_extensions=("html", "j2.html"), default_for_string=True, default=True),
    trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined)
_TEXT = jinja2.Environment(loader=_LOADER, autoescape=False, trim_blocks=True, lstrip_blocks=True,
                           undefined=jinja2.StrictUndefined)


def render(template: str, context: dict, lang: str) -> tuple[str, str]:
    """(plain text, HTML) of the mail template ``template`` ('digest', 'weekly', 'admin', …) showing
    ``context``, in ``lang``: the templates' ``t(key, **params)`` reads the message table."""
    values = {"t": translator(lang), "lang": lang, **context}
    return (_TEXT.get_template(f"{template}.txt").render(values),
            _HTML.get_template(f"{template}.html").render(values))


def translator(lang: str):
    """``t(key, **params)``: the message table's text in ``lang``, as the templates call it."""
    return lambda key, **params: text(key, lang, **params)


def linked(href: str, shown: str) -> Markup:
    """``shown`` as HTML, a link to ``href`` when there is one (general.share_url is set)."""
    if not href:
        return escape(shown)
    return Markup(f'<a href="{escape(href)}" style="color:#0563c1;">{escape(shown)}</a>')
