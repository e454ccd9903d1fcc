"""Back office: invoices."""


def register(admin) -> None:
    pass
