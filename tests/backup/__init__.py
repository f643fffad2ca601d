"""Helpers that start real PostgreSQL and Azurite servers for the backup tests."""
