"""Language selection (zh_CN first, en) with Flask-Babel, and picking the zh/en text of template labels."""
from __future__ import annotations

from flask import Flask, has_request_context, request, session
from flask_babel import Babel, get_locale
from flask_login import current_user

LOCALES = ("zh_CN", "en")


def remember_choice() -> None:
    """`?lang=en` / `?lang=zh_CN` on any URL switches the language for the rest of the session."""
    asked = request.args.get("lang")
    if asked in LOCALES:
        session["lang"] = asked


def select_locale() -> str:
    if not has_request_context():  # CLI commands, demo seeding
        return "zh_CN"
    if session.get("lang") in LOCALES:
        return session["lang"]
    if getattr(current_user, "is_authenticated", False) and current_user.locale in LOCALES:
        return current_user.locale
    best = request.accept_languages.best_match(["zh_CN", "zh", "en"], default="zh_CN")
    return "en" if best == "en" else "zh_CN"


def lang() -> str:
    """'zh' or 'en': which side of a template's {zh, en} texts to show."""
    loc = get_locale()
    return "en" if loc is not None and loc.language == "en" else "zh"


def tr(i18n: dict | str | None, default: str = "") -> str:
    from forms import text

    return text(i18n, lang(), default)


def init_app(app: Flask) -> None:
    Babel(app, locale_selector=select_locale)
    app.before_request(remember_choice)
    app.jinja_env.globals.update(lang=lang, tr=tr)
