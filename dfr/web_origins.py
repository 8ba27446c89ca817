"""Web origins as a deployment lists them: the pages on other servers allowed to ask for
video (CORS), each written as a browser sends it in its `Origin` header.

A browser serializes an origin as scheme://host[:port], lower case, without the default
port and without a path; an allowlist entry is compared with that text as it is, so
`web_origin` turns what a person wrote into that form, or says what is wrong with it.
"""

from __future__ import annotations

from urllib.parse import urlsplit

_DEFAULT_PORTS = {"http": 80, "https": 443}


def web_origin(text: str) -> str:
    """`text` as a browser's Origin header names it. Raises ValueError saying why it is not
    an origin: not http(s), no host, a path, query or credentials, a wildcard, or `*`.

    >>> web_origin("https://RTCC.example.gov:443")
    'https://rtcc.example.gov'
    >>> web_origin("http://127.0.0.1:8080")
    'http://127.0.0.1:8080'
    """
    if text.strip() == "*":
        raise ValueError(
            "'*' would let every web page ask for video with a token it holds; "
            "list each origin, e.g. 'https://rtcc.example.gov'"
        )
    if "*" in text:
        raise ValueError(f"{text!r}: no wildcards; list each origin")
    if text.strip().lower() == "null":
        raise ValueError("'null' is what sandboxed and local pages send; it names no one")
    try:
        parts = urlsplit(text.strip())
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"{text!r} is not an origin: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        raise ValueError(f"{text!r} is not an origin: write scheme://host[:port], http or https")
    if parts.username is not None or parts.password is not None:
        raise ValueError(f"{text!r}: an origin carries no user name or password")
    if parts.path or parts.query or parts.fragment or text.strip().endswith(("?", "#")):
        bare = f"{scheme}://{parts.netloc}"
        raise ValueError(f"{text!r}: an origin has no path, query or fragment; write {bare!r}")
    try:
        host = parts.hostname.encode("idna").decode("ascii")
    except UnicodeError:
        raise ValueError(f"{text!r}: {parts.hostname!r} is not a host name") from None
    if ":" in host:
        host = f"[{host}]"  # an IPv6 address
    if port is None or port == _DEFAULT_PORTS[scheme]:
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"
