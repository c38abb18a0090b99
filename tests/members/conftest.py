"""The member tests (login, me) use the root conftest's fixtures and the mailbox plugin's
(tests/support/mailbox.py). Each module that needs the mailbox loads it with ``pytest_plugins``: a
conftest below the root may not, and as a plugin its session fixtures (one SMTP server, one mail
database) exist once per run."""
