"""The email tests use the root conftest's fixtures and the mailbox plugin's (tests/support/mailbox.py),
loaded with ``pytest_plugins`` in the test module (see tests/members/conftest.py for why)."""
