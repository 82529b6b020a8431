"""The exporter's web-config file: the format of the Prometheus exporter-toolkit (node_exporter's
--web.config.file), so an existing file works unchanged:

    tls_server_config:
      cert_file: server.crt          # relative paths are relative to this file
      key_file: server.key
      client_auth_type: RequireAndVerifyClientCert   # optional (NoClientCert, RequireAnyClientCert, ...)
      client_ca_file: ca.crt                           # needed to verify client certificates
      min_version: TLS12                               # optional: TLS10..TLS13
    basic_auth_users:
      prometheus: $2b$12$...         # bcrypt hashes (htpasswd -nBC 12 prometheus)

Needs PyYAML to read the file and bcrypt to check passwords (both dependencies of memdive).
"""

from __future__ import annotations

import os
import ssl
from dataclasses import dataclass, field

from ..errors import InvalidInput

_TLS_KEYS = {"cert_file", "key_file", "client_auth_type", "client_ca_file", "min_version", "max_version",
             "cipher_suites", "curve_preferences", "prefer_server_cipher_suites"}
_TOP_KEYS = {"tls_server_config", "basic_auth_users", "http_server_config"}
_VERSIONS = {"TLS10": ssl.TLSVersion.TLSv1, "TLS11": ssl.TLSVersion.TLSv1_1, "TLS12": ssl.TLSVersion.TLSv1_2,
             "TLS13": ssl.TLSVersion.TLSv1_3}
_CLIENT_AUTH = {"NoClientCert": ssl.CERT_NONE, "RequestClientCert": ssl.CERT_OPTIONAL,
                "RequireAnyClientCert": ssl.CERT_REQUIRED, "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
                "RequireAndVerifyClientCert": ssl.CERT_REQUIRED}


@dataclass
class WebConfig:
    path: str
    tls: ssl.SSLContext | None = None
    users: dict[str, bytes] = field(default_factory=dict)     # user -> bcrypt hash
    _ok: set = field(default_factory=set)                      # (user, sha256(password)) already verified

    def check(self, user: str, password: str) -> bool:
        """True if user:password matches (bcrypt is slow by design: successes are remembered)."""
        import hashlib

        h = self.users.get(user)
        if h is None:
            return False
        key = (user, hashlib.sha256(password.encode("utf-8", "surrogateescape")).digest())
        if key in self._ok:
            return True
        import bcrypt

        try:
            ok = bcrypt.checkpw(password.encode("utf-8", "surrogateescape"), h)
        except ValueError:
            return False
        if ok:
            self._ok.add(key)
        return ok


def load(path: str) -> WebConfig:
    try:
        import yaml
    except ImportError:
        raise InvalidInput("reading a web-config file needs PyYAML", hint="pip install pyyaml") from None
    try:
        with open(path) as f:
            doc = yaml.safe_load(f)
    except OSError as e:
        raise InvalidInput(f"{path}: {e.strerror}", path=path) from None
    except yaml.YAMLError as e:
        raise InvalidInput(f"{path}: not valid YAML ({str(e).splitlines()[0]})", path=path) from None
    if doc is None:
        doc = {}
    if not isinstance(doc, dict):
        raise InvalidInput(f"{path}: expected a mapping at the top", path=path)
    unknown = set(doc) - _TOP_KEYS
    if unknown:
        raise InvalidInput(f"{path}: unknown key(s) {', '.join(sorted(unknown))}", path=path,
                           hint="expected tls_server_config and/or basic_auth_users")
    base = os.path.dirname(os.path.abspath(path))

    def rel(p: str) -> str:
        return p if os.path.isabs(p) else os.path.join(base, p)

    cfg = WebConfig(path=path)
    tls = doc.get("tls_server_config")
    if tls:
        if not isinstance(tls, dict):
            raise InvalidInput(f"{path}: tls_server_config must be a mapping", path=path)
        bad = set(tls) - _TLS_KEYS
        if bad:
            raise InvalidInput(f"{path}: unknown tls_server_config key(s) {', '.join(sorted(bad))}", path=path)
        if not tls.get("cert_file") or not tls.get("key_file"):
            raise InvalidInput(f"{path}: tls_server_config needs cert_file and key_file", path=path)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        try:
            ctx.load_cert_chain(rel(tls["cert_file"]), rel(tls["key_file"]))
        except (OSError, ssl.SSLError) as e:
            raise InvalidInput(f"{path}: cannot load the certificate/key: {e}", path=path) from None
        mv = tls.get("min_version", "TLS12")
        if mv not in _VERSIONS:
            raise InvalidInput(f"{path}: min_version {mv!r} is not one of {', '.join(_VERSIONS)}", path=path)
        ctx.minimum_version = _VERSIONS[mv]
        if tls.get("max_version"):
            if tls["max_version"] not in _VERSIONS:
                raise InvalidInput(f"{path}: max_version {tls['max_version']!r} is not valid", path=path)
            ctx.maximum_version = _VERSIONS[tls["max_version"]]
        cat = tls.get("client_auth_type", "NoClientCert")
        if cat not in _CLIENT_AUTH:
            raise InvalidInput(f"{path}: client_auth_type {cat!r} is not one of {', '.join(_CLIENT_AUTH)}",
                               path=path)
        ctx.verify_mode = _CLIENT_AUTH[cat]
        if tls.get("client_ca_file"):
            try:
                ctx.load_verify_locations(rel(tls["client_ca_file"]))
            except (OSError, ssl.SSLError) as e:
                raise InvalidInput(f"{path}: cannot load client_ca_file: {e}", path=path) from None
        elif cat in ("RequireAndVerifyClientCert", "VerifyClientCertIfGiven"):
            raise InvalidInput(f"{path}: client_auth_type {cat} needs client_ca_file", path=path)
        cfg.tls = ctx
    users = doc.get("basic_auth_users")
    if users:
        if not isinstance(users, dict):
            raise InvalidInput(f"{path}: basic_auth_users must map user names to bcrypt hashes", path=path)
        try:
            import bcrypt  # noqa: F401
        except ImportError:
            raise InvalidInput("basic_auth_users needs the bcrypt package", hint="pip install bcrypt") from None
        for u, h in users.items():
            if not isinstance(h, str) or not h.startswith(("$2a$", "$2b$", "$2y$")):
                raise InvalidInput(f"{path}: the password of {u!r} is not a bcrypt hash", path=path,
                                   hint="make one with: htpasswd -nBC 12 USER, or python -c \"import bcrypt; "
                                        "print(bcrypt.hashpw(b'PASSWORD', bcrypt.gensalt()).decode())\"")
            # Go's bcrypt writes $2y$/$2a$; the Python package checks $2b$ (the same algorithm).
            cfg.users[str(u)] = ("$2b$" + h[4:]).encode()
    return cfg
