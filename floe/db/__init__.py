"""Floe's database: every table (``models``), engines and numbering (``base``), the URL setting
(``database``), finding rows by name (``lookup``) and the Alembic migrations."""
