"""Telling professionals and case systems that something happened: inbox, e-mail, webhooks."""
