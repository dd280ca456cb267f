"""coordxl: cross-department coordination on the Excel workbooks staff already use."""

__version__ = "0.1.0"
