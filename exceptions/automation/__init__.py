"""Automated actions: playbooks, choosing an action, approvals, running it, its audit."""
