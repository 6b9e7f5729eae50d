"""wave/importers."""
