"""i18n.lang() reads the locale Flask-Babel chose for the request (#11) and still follows force_locale (the
reminders render each user's mail in their language inside a request), the session's choice, and gives 'zh'
outside a request."""
from __future__ import annotations

from flask import session
from flask_babel import force_locale, get_locale

from workbench.i18n import lang


def test_lang_follows_the_request_and_force_locale(app):
    assert lang() == "zh"  # no application context
    with app.test_request_context("/", headers={"Accept-Language": "en"}):
        assert lang() == "en"
        with force_locale("zh_CN"):
            assert lang() == "zh" and get_locale().language == "zh"
            with force_locale("en"):
                assert lang() == "en"
            assert lang() == "zh"
        assert lang() == "en"
    with app.test_request_context("/"):
        session["lang"] = "en"
        assert lang() == "en"
    with app.test_request_context("/", headers={"Accept-Language": "fr"}):
        assert lang() == "zh"
        with force_locale("en"):
            assert lang() == "en"
    with app.app_context():
        assert lang() == "zh"
