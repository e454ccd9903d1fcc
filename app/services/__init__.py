"""Business logic as plain functions: they flush and raise DomainError, never commit."""


class DomainError(Exception):
    """A rule of the domain was broken; `code` is stable, the message is for people."""

    code = "domain_error"

    def __init__(self, message: str, code: str | None = None):
        super().__init__(message)
        if code:
            self.code = code
