"""The network notifier (:class:`broker.interfaces.Notifier`): webhooks over HTTP(S) with
httpx, e-mail through an SMTP relay.

Rules this module guarantees:

- A webhook is sent through an httpx transport, not an httpx client: the client logs every
  request's full URL, and a webhook URL may carry a secret. Redirects are never followed.
- A failure is named by a fixed word or the exception's type (:class:`NotifierError`), never
  its text, which may hold the URL or the address.
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Mapping
from email.message import EmailMessage
from urllib.parse import unquote, urlsplit

import httpx

from broker.interfaces import NotifierError


class NetworkNotifier:
    """Hands webhooks and e-mails over to the network."""

    def post_webhook(self, url: str, body: bytes, headers: Mapping[str, str],
                     timeout: float) -> int:
        """POST ``body`` to ``url``; the answer's status (see the module's rules)."""
        try:
            with httpx.HTTPTransport() as transport:
                request = httpx.Request("POST", url, content=body, headers=dict(headers),
                                        extensions={"timeout": httpx.Timeout(timeout).as_dict()})
                response = transport.handle_request(request)
                response.close()
        except httpx.HTTPError as exc:
            raise NotifierError(type(exc).__name__) from None  # its text may hold the URL
        return response.status_code

    def send_email(self, mail: EmailMessage, smtp_url: str, timeout: float) -> None:
        """Send ``mail`` through ``smtp_url`` (``smtp://``, ``smtp+starttls://``, ``smtps://``)."""
        url = urlsplit(smtp_url)
        host = url.hostname or "localhost"
        try:
            smtp: smtplib.SMTP
            if url.scheme == "smtps":
                smtp = smtplib.SMTP_SSL(host, url.port or 465, timeout=timeout,
                                        context=ssl.create_default_context())
            else:
                smtp = smtplib.SMTP(host, url.port or (587 if url.scheme == "smtp+starttls"
                                                       else 25), timeout=timeout)
            with smtp:
                if url.scheme == "smtp+starttls":
                    smtp.starttls(context=ssl.create_default_context())
                if url.username:
                    smtp.login(unquote(url.username), unquote(url.password or ""))
                smtp.send_message(mail)
        except smtplib.SMTPResponseException as exc:
            raise NotifierError(f"smtp-{exc.smtp_code}") from None
        except (smtplib.SMTPException, OSError) as exc:
            raise NotifierError(type(exc).__name__) from None  # its text may hold the address
