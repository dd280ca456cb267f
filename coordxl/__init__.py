"""coordxl: cross-department coordination on the Excel workbooks staff already use."""

__version__ = "0.2.0"
