"""Workbooks as files: zip parts, reading, the lossless patch, generated output."""
