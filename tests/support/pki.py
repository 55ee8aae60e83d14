"""A throwaway PKI for HTTPS tests on loopback, made with ``cryptography``.

A CA, server certificates for 127.0.0.1 and for ``localhost`` only, and a client
certificate, written as PEM files; ``ssl`` server contexts for them (the test
servers' side: the package itself never imports ``ssl``).
"""

from __future__ import annotations

import datetime
import ipaddress
import ssl
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


class Pki:
    """A throwaway CA, server certificates for 127.0.0.1 and for localhost only, and a
    client certificate, as files; server contexts for them."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.now = datetime.datetime.now(datetime.timezone.utc)
        self.ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "loopback tests CA")])
        self.ca = (self._valid(x509.CertificateBuilder())
                   .subject_name(ca_name).issuer_name(ca_name)
                   .public_key(self.ca_key.public_key())
                   .add_extension(x509.BasicConstraints(ca=True, path_length=None),
                                  critical=True)
                   .add_extension(x509.KeyUsage(
                       digital_signature=True, content_commitment=False,
                       key_encipherment=False, data_encipherment=False, key_agreement=False,
                       key_cert_sign=True, crl_sign=True, encipher_only=False,
                       decipher_only=False), critical=True)
                   .add_extension(x509.SubjectKeyIdentifier.from_public_key(
                       self.ca_key.public_key()), critical=False)
                   .sign(self.ca_key, hashes.SHA256()))
        self.ca_file = root / "ca.pem"
        self.ca_file.write_bytes(self.ca.public_bytes(serialization.Encoding.PEM))
        ip_files = self._issue("ip", x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                               ExtendedKeyUsageOID.SERVER_AUTH)
        self.ip_context = self._server(*ip_files)
        self.name_context = self._server(*self._issue(
            "name", x509.DNSName("localhost"), ExtendedKeyUsageOID.SERVER_AUTH))
        self.client_files = self._issue("loopback-client", x509.DNSName("client.invalid"),
                                        ExtendedKeyUsageOID.CLIENT_AUTH)
        self.mutual_context = self._server(*ip_files)
        self.mutual_context.verify_mode = ssl.CERT_REQUIRED
        self.mutual_context.load_verify_locations(self.ca_file)

    def _valid(self, builder: x509.CertificateBuilder) -> x509.CertificateBuilder:
        return (builder.serial_number(x509.random_serial_number())
                .not_valid_before(self.now - datetime.timedelta(minutes=5))
                .not_valid_after(self.now + datetime.timedelta(days=1)))

    def _issue(self, label: str, san: x509.GeneralName,
               usage: x509.ObjectIdentifier) -> tuple[str, str]:
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (self._valid(x509.CertificateBuilder())
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, label)]))
                .issuer_name(self.ca.subject).public_key(key.public_key())
                .add_extension(x509.SubjectAlternativeName([san]), critical=False)
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
                .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                    self.ca_key.public_key()), critical=False)
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                               critical=False)
                .sign(self.ca_key, hashes.SHA256()))
        cert_file, key_file = self.root / f"{label}.pem", self.root / f"{label}.key"
        cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                               serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
        return str(cert_file), str(key_file)

    @staticmethod
    def _server(cert_file: str, key_file: str) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_file, key_file)
        return context
