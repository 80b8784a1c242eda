"""Senders, one per outbox channel. Each raises on failure (the outbox records the error and retries).

- email: SMTP (app config or environment: SMTP_HOST, SMTP_PORT, SMTP_USER, SMTP_PASSWORD, SMTP_STARTTLS, MAIL_FROM); plain text.
- wecom (企业微信 group robot): POST {"msgtype": "markdown", "markdown": {"content": …}}; errcode ≠ 0 is a failure.
- dingtalk (钉钉 custom robot): POST {"msgtype": "markdown", "markdown": {"title": …, "text": …}}; with a 加签
  secret the URL gets `&timestamp=T&sign=S`, S = urlencode(base64(HMAC-SHA256(secret, f"{T}\\n{secret}"))).
- webhook: POST the JSON payload with `X-Workbench-Signature: sha256=<hex HMAC-SHA256(secret, body)>`,
  `X-Workbench-Timestamp` and `X-Workbench-Delivery` (the dedupe key: receivers can drop repeats); an
  organization's webhook also `X-Workbench-Payload-Version` (the body's `payload_version`).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import smtplib
import time
import urllib.parse
import urllib.request
from email.message import EmailMessage
from email.utils import make_msgid

from flask import current_app
from sqlmodel import Session, select

from workbench.notify.models import NotifyPref, OrgChannel, Outbox

TIMEOUT = 10


class DeliveryError(RuntimeError):
    pass


def config(name: str, default=None):
    """App config first (tests), then the environment (SMTP_HOST=… in production)."""
    return current_app.config.get(name, os.environ.get(name, default))


def send(row: Outbox) -> None:
    {"email": send_email, "wecom": send_robot, "dingtalk": send_robot, "webhook": send_webhook}[row.channel](row)


def send_email(row: Outbox) -> None:
    host = config("SMTP_HOST")
    if not host:
        raise DeliveryError("SMTP_HOST is not configured")
    msg = EmailMessage()
    msg["From"] = config("MAIL_FROM", "ProcessBench <noreply@localhost>")
    msg["To"] = row.target
    msg["Subject"] = row.payload.get("title", "ProcessBench")
    msg["Message-ID"] = make_msgid(idstring=hashlib.sha256(row.dedupe_key.encode()).hexdigest()[:24])
    msg["X-Workbench-Delivery"] = row.dedupe_key
    msg.set_content(row.payload.get("text", ""))
    with smtplib.SMTP(host, int(config("SMTP_PORT", 25)), timeout=TIMEOUT) as smtp:
        if config("SMTP_STARTTLS"):
            smtp.starttls()
        if config("SMTP_USER"):
            smtp.login(config("SMTP_USER"), config("SMTP_PASSWORD", ""))
        smtp.send_message(msg)


def robot_body(kind: str, title: str, text: str) -> dict:
    if kind == "wecom":
        return {"msgtype": "markdown", "markdown": {"content": f"**{title}**\n{text}"}}
    return {"msgtype": "markdown", "markdown": {"title": title, "text": f"#### {title}\n{text}"}}


def dingtalk_signed_url(url: str, secret: str, now_ms: int | None = None) -> str:
    ts = str(now_ms if now_ms is not None else int(time.time() * 1000))
    digest = hmac.new(secret.encode(), f"{ts}\n{secret}".encode(), hashlib.sha256).digest()
    sign = urllib.parse.quote_plus(base64.b64encode(digest))
    return f"{url}{'&' if '?' in url else '?'}timestamp={ts}&sign={sign}"


def _post(url: str, body: bytes, headers: dict) -> bytes:
    req = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": "application/json; charset=utf-8", **headers})
    with urllib.request.urlopen(req, timeout=TIMEOUT) as resp:  # noqa: S310 - URLs are set by managers/users, http(s) only
        return resp.read(65536)


def _check_scheme(url: str) -> None:
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise DeliveryError("only http(s) URLs")


def send_robot(row: Outbox) -> None:
    url = row.target
    _check_scheme(url)
    if row.channel == "dingtalk" and row.org_id:
        from workbench.db import get_session

        ch = get_session().exec(select(OrgChannel).where(OrgChannel.org_id == row.org_id, OrgChannel.kind == "dingtalk")).first()
        if ch and ch.secret:
            url = dingtalk_signed_url(url, ch.secret)
    body = json.dumps(robot_body(row.channel, row.payload.get("title", ""), row.payload.get("text", "")), ensure_ascii=False)
    answer = _post(url, body.encode(), {})
    try:
        code = json.loads(answer or b"{}").get("errcode", 0)
    except (ValueError, AttributeError):
        code = 0
    if code:
        raise DeliveryError(f"robot answered errcode {code}")


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def send_webhook(row: Outbox) -> None:
    _check_scheme(row.target)
    from workbench.db import get_session

    pref = get_session().exec(select(NotifyPref).where(NotifyPref.user_id == row.payload.get("user_id"))).first()
    body = json.dumps(row.payload, ensure_ascii=False, sort_keys=True).encode()
    secret = pref.webhook_secret if pref else ""
    headers = {"X-Workbench-Timestamp": str(int(time.time())), "X-Workbench-Delivery": row.dedupe_key}
    if "webhook_id" in row.payload:  # an organization's webhook (workbench.api.webhooks)
        from workbench.api.webhooks import secret_for

        secret = secret_for(get_session(), row.payload["webhook_id"]) or ""
        headers["X-Workbench-Payload-Version"] = str(row.payload.get("payload_version", 1))  # queued before: v1
    _post(row.target, body, {"X-Workbench-Signature": signature(secret, body), **headers})


__all__ = ["DeliveryError", "Session", "send"]
