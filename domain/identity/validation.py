"""Field rules shared by identity use cases."""

from __future__ import annotations

import re

from domain.errors import Field, ValidationFailed

_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")
MIN_PASSWORD = 10
MAX_PASSWORD = 256


def normalize_email(email: str, field: Field = "email") -> str:
    value = email.strip().lower()
    if len(value) > 320 or not _EMAIL.match(value):
        raise ValidationFailed("Enter a valid email address.", code="invalid_email", field=field)
    return value


def check_password(password: str, field: Field = "password") -> None:
    if len(password) < MIN_PASSWORD:
        raise ValidationFailed(
            f"The password must be at least {MIN_PASSWORD} characters long.", code="password_too_short", field=field
        )
    if len(password) > MAX_PASSWORD:
        raise ValidationFailed(
            f"The password must be at most {MAX_PASSWORD} characters long.", code="password_too_long", field=field
        )
