"""Slack notifications for exceptions: the outbox, the sender and the interactions."""
