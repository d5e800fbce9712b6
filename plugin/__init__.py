"""check_tls_expiry: a Nagios/Icinga plugin that checks the certificate chain a TLS endpoint presents.

Data flows one way: acquire (``tls``, ``files``) -> evaluate (``evaluate``) -> present (``nagios``).
Only the presentation layer imports nagiosplugin; this file imports nothing, to keep start-up lean.
"""

__all__ = ["__version__"]

__version__ = "0.1.0"
