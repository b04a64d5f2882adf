"""The billing app; its models and services arrive with their issues (see DESIGN.md)."""
