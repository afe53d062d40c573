"""The macOS schedule: the job table (``schedule``), plists (``plists``), install (``install``)."""
