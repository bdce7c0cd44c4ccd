"""Download + activity pipeline and its run records."""
