"""The audit tool: reconciles the event log with what the services hold."""
