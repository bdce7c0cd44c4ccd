"""One router per domain module."""
