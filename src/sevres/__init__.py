"""sevres: an identity service compatible with the OpenStack Identity (Keystone) v3 API."""

__version__ = "0.1.0"
