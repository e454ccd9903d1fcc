"""Forms shared by the back office and the cabinet, generated from the pydantic schemas in app.services."""
