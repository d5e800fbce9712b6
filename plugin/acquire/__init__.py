"""Acquire: from a validated target (or a file) to a record of what was presented.

Resolve and connect (:mod:`.connect`), negotiate STARTTLS (:mod:`.starttls`), handshake and read OpenSSL's
verdict (:mod:`.tls`), several handshakes at once (:mod:`.probes`), certificate files (:mod:`.files`, :mod:`.der`)
and file mode's path builder (:mod:`.chain`); :mod:`.presented` is the record handed to evaluation. Library and
OS errors become :mod:`plugin.errors` here. Empty on purpose: a healthy check imports only what it uses.
"""
