"""Form fields the back office needs beyond WTForms' own."""
from wtforms import TextAreaField


class LinesField(TextAreaField):
    """A list of strings edited as one value per line (not JSON)."""

    def _value(self) -> str:
        return "\n".join(self.data or [])

    def process_formdata(self, valuelist):
        text = valuelist[0] if valuelist else ""
        self.data = [line.strip() for line in text.splitlines() if line.strip()]
