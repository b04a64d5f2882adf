"""Adapters: turn a sender's native payload into the E²A event contract."""
