"""Staff pages beyond the admin: the escalation queue, call history and the dashboard."""
