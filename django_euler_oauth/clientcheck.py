"""Checking OAuth clients against Euler: now :mod:`django_euler_oauth.registration`.
These names stay importable from here."""

from .registration import ClientReport, check_client, check_clients

__all__ = ["ClientReport", "check_client", "check_clients"]
