"""Back office: payments."""


def register(admin) -> None:
    pass
