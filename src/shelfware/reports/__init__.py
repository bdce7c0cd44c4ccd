"""Reports people act on: compliance, usage, savings, renewals, people, trends."""
