"""A certificate authority and one server certificate for every lab name, made at test time with the
``openssl`` command (nothing is committed; keys live in the test's temporary directory)."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class LabCertificates:
    ca: Path  # PEM; the probe trusts it through tls.ca_file
    cert: Path
    key: Path


def _openssl(*args: str) -> None:
    result = subprocess.run(["openssl", *args], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args[:2])} failed: {result.stderr.strip()}")


def make_certificates(directory: Path, names: list[str]) -> LabCertificates:
    directory.mkdir(parents=True, exist_ok=True)
    ca_key, ca = directory / "ca.key", directory / "ca.pem"
    key, csr, cert = directory / "server.key", directory / "server.csr", directory / "server.pem"
    ext = directory / "server.ext"
    _openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", str(ca_key))
    _openssl(
        *f"req -x509 -new -key {ca_key} -sha256 -days 2 -out {ca}".split(),
        *("-subj", "/CN=Lightsout lab CA", "-addext", "basicConstraints=critical,CA:TRUE"),
        *("-addext", "keyUsage=critical,keyCertSign,cRLSign"),
    )
    _openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", str(key))
    _openssl("req", "-new", "-key", str(key), "-subj", "/CN=lab server", "-out", str(csr))
    ext.write_text(
        "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n"
        "subjectAltName=" + ",".join(f"DNS:{name}" for name in names) + "\n"
    )
    _openssl(
        *f"x509 -req -in {csr} -CA {ca} -CAkey {ca_key} -CAcreateserial -days 2 -sha256".split(),
        *("-extfile", str(ext), "-out", str(cert)),
    )
    return LabCertificates(ca, cert, key)
