//! TLS to PostgreSQL, chosen by the URL's `sslmode`, `sslrootcert`, `sslcert` and `sslkey`
//! as libpq reads them:
//!
//! | `sslmode` | TLS | the server's certificate |
//! | --- | --- | --- |
//! | `disable` | never | - |
//! | `prefer` (default) | when the server offers it | not checked |
//! | `require` | always | not checked; with `sslrootcert`, as `verify-ca` |
//! | `verify-ca` | always | signed by `sslrootcert` (else the system's CAs) |
//! | `verify-full` | always | as `verify-ca`, and names the host connected to |
//!
//! The postgres client parses `disable`, `prefer` and `require` itself but refuses
//! `verify-ca`, `verify-full` and `sslrootcert`, so [`split`] takes them out of the URL
//! (leaving `require`) and the checks are made here, by the rustls client config.
//! `sslrootcert=system` (or none, for the verify modes) means the system's CA store.
//!
//! `sslcert` and `sslkey` (given together) name PEM files with a client certificate (and
//! its chain) and its private key, presented whenever TLS is used and the server asks for
//! one (its `cert` authentication, or `clientcert=verify-ca|verify-full` in pg_hba.conf).
//! Unlike libpq, no file is read that the URL does not name (`~/.postgresql/...`), and the
//! key is never shown: its errors name the file, not what is in it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, InconsistentKeys, RootCertStore,
    SignatureScheme,
};
use tokio_postgres_rustls::MakeRustlsConnect;

/// How much of the server's certificate is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Check {
    /// Encrypted, but anyone's certificate is accepted (libpq's `prefer` and `require`).
    Nothing,
    /// Signed by a trusted CA, for any host name (`verify-ca`).
    Chain,
    /// Signed by a trusted CA and naming the host (`verify-full`).
    Full,
}

/// What the URL asks of TLS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TlsChoice {
    pub(crate) check: Check,
    /// `sslrootcert`: the CA file; `None` for the system's store.
    pub(crate) root_cert: Option<PathBuf>,
    /// `sslcert` and `sslkey`: the certificate to present when the server asks for one.
    pub(crate) client_cert: Option<ClientCert>,
}

/// The files of a client certificate, as the URL names them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ClientCert {
    /// `sslcert`: PEM, the client's certificate first, then any intermediate CAs.
    pub(crate) cert: PathBuf,
    /// `sslkey`: PEM, its private key (PKCS#8, PKCS#1 or SEC1), not encrypted.
    pub(crate) key: PathBuf,
}

/// Parameters libpq has that this client does not, refused with what to do instead
/// rather than the client's "unknown option".
const UNSUPPORTED: [(&str, &str); 3] = [
    (
        "sslpassword",
        "hoist reads only unencrypted private keys; decrypt a copy that only hoist's user \
         can read (`openssl pkey -in KEY -out PLAIN.key`, then `chmod 600 PLAIN.key`) and \
         name it as sslkey",
    ),
    (
        "sslcrl",
        "hoist does not check certificate revocation lists; have the CA in sslrootcert \
         re-issue the server's certificate instead of revoking it in place",
    ),
    (
        "sslcrldir",
        "hoist does not check certificate revocation lists; have the CA in sslrootcert \
         re-issue the server's certificate instead of revoking it in place",
    ),
];

/// The URL for the postgres client (`verify-ca`/`verify-full` written as `require`,
/// `sslrootcert`, `sslcert` and `sslkey` left out) and what it asks of TLS.
pub(crate) fn split(url: &str) -> Result<(String, TlsChoice), String> {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, query),
        None => (url, ""),
    };
    let mut mode = "prefer".to_string();
    let mut root_cert = None;
    let (mut cert_file, mut key_file) = (None, None);
    let mut kept = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match key {
            "sslmode" => {
                mode = value.to_string();
                let passed = match value {
                    "verify-ca" | "verify-full" => "require",
                    "disable" | "prefer" | "require" => value,
                    other => {
                        return Err(format!(
                            "sslmode={other} is not supported: write disable, prefer, require, \
                             verify-ca or verify-full"
                        ));
                    }
                };
                kept.push(format!("sslmode={passed}"));
            }
            "sslrootcert" => root_cert = Some(percent_decoded(value)),
            "sslcert" => cert_file = Some(file_parameter(key, value)?),
            "sslkey" => key_file = Some(file_parameter(key, value)?),
            key => {
                if let Some((_, instead)) = UNSUPPORTED.iter().find(|(name, _)| *name == key) {
                    return Err(format!("{key} is not supported: {instead}"));
                }
                kept.push(pair.to_string());
            }
        }
    }
    let client_cert = match (cert_file, key_file) {
        (Some(cert), Some(key)) => Some(ClientCert { cert, key }),
        (None, None) => None,
        (Some(_), None) => {
            return Err(
                "sslcert is given without sslkey: add sslkey=PATH, the PEM file \
                        with the certificate's private key (hoist does not read \
                        ~/.postgresql/postgresql.key)"
                    .into(),
            );
        }
        (None, Some(_)) => {
            return Err(
                "sslkey is given without sslcert: add sslcert=PATH, the PEM file \
                        with the client certificate (hoist does not read \
                        ~/.postgresql/postgresql.crt)"
                    .into(),
            );
        }
    };
    let check = match mode.as_str() {
        "verify-full" => Check::Full,
        "verify-ca" => Check::Chain,
        "require" if root_cert.is_some() => Check::Chain,
        _ => Check::Nothing,
    };
    let root_cert = root_cert.filter(|path| path != "system").map(PathBuf::from);
    let url = if kept.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    Ok((
        url,
        TlsChoice {
            check,
            root_cert,
            client_cert,
        },
    ))
}

/// The path in `sslcert=` or `sslkey=`, refused when empty.
fn file_parameter(key: &str, value: &str) -> Result<PathBuf, String> {
    match percent_decoded(value) {
        path if path.is_empty() => Err(format!(
            "{key} is empty: write {key}=PATH, or leave both sslcert and sslkey out"
        )),
        path => Ok(PathBuf::from(path)),
    }
}

/// The TLS connector for `choice`.
pub(crate) fn connector(choice: &TlsChoice) -> Result<MakeRustlsConnect, String> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let verifier: Arc<dyn ServerCertVerifier> = match choice.check {
        Check::Nothing => Arc::new(AnyCertificate {
            algorithms: provider.signature_verification_algorithms,
        }),
        Check::Chain | Check::Full => {
            let roots = roots(choice.root_cert.as_deref())?;
            let webpki =
                WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                    .build()
                    .map_err(|e| format!("cannot check server certificates: {e}"))?;
            if choice.check == Check::Full {
                webpki
            } else {
                Arc::new(AnyHostName { webpki })
            }
        }
    };
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("cannot set up TLS: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let config = match &choice.client_cert {
        None => builder.with_no_client_auth(),
        Some(files) => builder
            .with_client_auth_cert(files.chain()?, files.private_key()?)
            .map_err(|e| files.refusal(e))?,
    };
    Ok(MakeRustlsConnect::new(config))
}

impl ClientCert {
    /// The certificates in `sslcert`, the client's own first.
    fn chain(&self) -> Result<Vec<CertificateDer<'static>>, String> {
        let path = self.cert.display();
        let pem = read("sslcert", &self.cert)?;
        // Parse errors are not shown: a key given as sslcert by mistake would be quoted.
        let chain = CertificateDer::pem_slice_iter(&pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| {
                format!(
                    "sslcert {path} is not a readable PEM file: give the client certificate \
                     (-----BEGIN CERTIFICATE-----), followed by any intermediate CAs"
                )
            })?;
        if chain.is_empty() {
            return Err(format!(
                "sslcert {path} holds no PEM certificate: give the client certificate \
                 (-----BEGIN CERTIFICATE-----), followed by any intermediate CAs{}",
                if private_key_inside(&pem) {
                    "; it holds a private key, which belongs in sslkey"
                } else {
                    ""
                }
            ));
        }
        Ok(chain)
    }

    /// The key in `sslkey`. No error quotes the file: only its path and what it lacks.
    fn private_key(&self) -> Result<PrivateKeyDer<'static>, String> {
        let path = self.key.display();
        let pem = read("sslkey", &self.key)?;
        if encrypted(&pem) {
            return Err(format!(
                "sslkey {path} is encrypted, and hoist cannot decrypt keys (sslpassword is not \
                 supported): decrypt a copy that only hoist's user can read (`openssl pkey -in \
                 KEY -out PLAIN.key`, then `chmod 600 PLAIN.key`) and name it as sslkey"
            ));
        }
        match PrivateKeyDer::from_pem_slice(&pem) {
            Ok(key) => Ok(key),
            Err(rustls::pki_types::pem::Error::NoItemsFound) => Err(format!(
                "sslkey {path} holds no PEM private key: give the client certificate's key \
                 (-----BEGIN PRIVATE KEY-----, -----BEGIN RSA PRIVATE KEY----- or -----BEGIN \
                 EC PRIVATE KEY-----){}",
                if pem.windows(17).any(|w| w == b"BEGIN CERTIFICATE") {
                    "; it holds a certificate, which belongs in sslcert"
                } else {
                    ""
                }
            )),
            Err(_) => Err(format!(
                "sslkey {path} is not a readable PEM file (damaged, or not PEM): give the \
                 client certificate's private key in PEM"
            )),
        }
    }

    /// Why rustls would not pair the two files, in words that name them.
    fn refusal(&self, error: rustls::Error) -> String {
        let (cert, key) = (self.cert.display(), self.key.display());
        match error {
            rustls::Error::InconsistentKeys(InconsistentKeys::KeyMismatch) => format!(
                "sslkey {key} is not the private key of the certificate in sslcert {cert}: \
                 give the key the certificate was made for (`openssl x509 -noout -pubkey -in \
                 CERT` and `openssl pkey -pubout -in KEY` print the same public key)"
            ),
            rustls::Error::InvalidCertificate(why) => format!(
                "sslcert {cert} does not start with a certificate hoist can read ({why:?}): \
                 give the client certificate first, then any intermediate CAs"
            ),
            // rustls's errors describe the key's kind, never its content.
            other => format!("cannot use sslcert {cert} with sslkey {key}: {other}"),
        }
    }
}

/// The bytes of the file in parameter `key`, or what to do.
fn read(key: &str, path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| {
        format!(
            "{key} {}: cannot read it: {e}; name a PEM file that hoist's user can read",
            path.display()
        )
    })
}

/// Whether a PEM key file is encrypted (PKCS#8's `ENCRYPTED PRIVATE KEY`, or OpenSSL's
/// legacy `Proc-Type: 4,ENCRYPTED` header), which the PEM reader would only call empty.
fn encrypted(pem: &[u8]) -> bool {
    pem.windows(9).any(|w| w == b"ENCRYPTED")
}

/// Whether a PEM file holds a private key of any kind.
fn private_key_inside(pem: &[u8]) -> bool {
    pem.windows(11).any(|w| w == b"PRIVATE KEY")
}

/// The CAs to trust: the file's, else the system's.
fn roots(file: Option<&Path>) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    match file {
        Some(path) => {
            let certs = CertificateDer::pem_file_iter(path)
                .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                .map_err(|e| format!("sslrootcert {}: {e}", path.display()))?;
            let (added, _) = roots.add_parsable_certificates(certs);
            if added == 0 {
                return Err(format!(
                    "sslrootcert {} holds no PEM certificate: give the CA that signed the \
                     server's certificate",
                    path.display()
                ));
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(found.certs);
            if roots.is_empty() {
                return Err(
                    "the system's CA store is empty: set sslrootcert to the CA that signed the \
                     server's certificate"
                        .into(),
                );
            }
        }
    }
    Ok(roots)
}

/// A word to add to a connection error that is about a certificate: the server's, or the
/// client's the server wanted.
pub(crate) fn hint(error: &str) -> Option<&'static str> {
    if error.contains("invalid peer certificate") {
        Some(
            "the server's certificate was not accepted: set sslrootcert=PATH to the CA that \
             signed it (and use the host name it names), or sslmode=require to encrypt \
             without checking it",
        )
    } else if error.contains("requires a valid client certificate") {
        Some(
            "the server asks for a client certificate: set sslcert=PATH and sslkey=PATH to a \
             certificate signed by a CA in the server's ssl_ca_file, and its private key",
        )
    } else if error.contains("certificate authentication failed") {
        Some(
            "the server did not accept the client certificate for this user: its common name \
             (CN) must be the user name in the URL, or map to it in the server's pg_ident.conf",
        )
    } else if [
        "UnknownCA",
        "BadCertificate",
        "CertificateRequired",
        "CertificateUnknown",
    ]
    .iter()
    .any(|alert| error.contains(&format!("received fatal alert: {alert}")))
    {
        Some(
            "the server refused the client certificate in sslcert: it must be signed by a CA \
             in the server's ssl_ca_file, and still be valid",
        )
    } else {
        None
    }
}

/// `%XX` escapes decoded (a path in a URL's query).
fn percent_decoded(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(byte) = text
                .get(i + 1..i + 3)
                .and_then(|hex| u8::from_str_radix(hex, 16).ok())
        {
            out.push(byte);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Accepts any certificate (libpq's `prefer` and `require`: encryption against a passive
/// listener, not a check of who answers); the handshake's signatures are still verified.
#[derive(Debug)]
struct AnyCertificate {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// The CA check of `verify-ca`: everything WebPKI checks except the host name.
#[derive(Debug)]
struct AnyHostName {
    webpki: Arc<WebPkiServerVerifier>,
}

impl ServerCertVerifier for AnyHostName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self.webpki.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn choice(check: Check, root_cert: Option<&str>) -> TlsChoice {
        TlsChoice {
            check,
            root_cert: root_cert.map(PathBuf::from),
            client_cert: None,
        }
    }

    fn with_client_cert(mut choice: TlsChoice, cert: &str, key: &str) -> TlsChoice {
        choice.client_cert = Some(ClientCert {
            cert: PathBuf::from(cert),
            key: PathBuf::from(key),
        });
        choice
    }

    /// The connector's error for `choice`.
    fn refusal(choice: &TlsChoice) -> String {
        match connector(choice) {
            Ok(_) => panic!("{choice:?} was accepted"),
            Err(e) => e,
        }
    }

    #[test]
    fn libpq_s_modes_become_what_the_client_parses_and_a_check() {
        let cases = [
            (
                "postgres://h/db",
                "postgres://h/db",
                choice(Check::Nothing, None),
            ),
            (
                "postgres://h/db?sslmode=disable",
                "postgres://h/db?sslmode=disable",
                choice(Check::Nothing, None),
            ),
            (
                "postgres://h/db?sslmode=require&application_name=x",
                "postgres://h/db?sslmode=require&application_name=x",
                choice(Check::Nothing, None),
            ),
            (
                "postgres://h/db?sslmode=require&sslrootcert=/ca.pem",
                "postgres://h/db?sslmode=require",
                choice(Check::Chain, Some("/ca.pem")),
            ),
            (
                "postgres://h/db?sslmode=verify-ca",
                "postgres://h/db?sslmode=require",
                choice(Check::Chain, None),
            ),
            (
                "postgres://h/db?sslrootcert=%2Fetc%2Fca%20x.pem&sslmode=verify-full",
                "postgres://h/db?sslmode=require",
                choice(Check::Full, Some("/etc/ca x.pem")),
            ),
            (
                "postgres://h/db?sslmode=verify-full&sslrootcert=system",
                "postgres://h/db?sslmode=require",
                choice(Check::Full, None),
            ),
        ];
        for (url, passed, expected) in cases {
            assert_eq!(split(url).unwrap(), (passed.to_string(), expected), "{url}");
        }
    }

    #[test]
    fn unknown_modes_key_passwords_and_crls_are_refused_by_name() {
        let err = split("postgres://h/db?sslmode=allow").unwrap_err();
        assert!(err.contains("sslmode=allow is not supported"), "{err}");
        let err = split("postgres://h/db?sslcert=/c.pem&sslkey=/k.pem&sslpassword=pw").unwrap_err();
        assert!(
            err.contains("sslpassword is not supported") && err.contains("openssl pkey"),
            "{err}"
        );
        assert!(!err.contains("pw"), "{err}");
        for crl in ["sslcrl=/crl.pem", "sslcrldir=/crls"] {
            let err = split(&format!("postgres://h/db?sslmode=verify-full&{crl}")).unwrap_err();
            assert!(
                err.contains("is not supported: hoist does not check certificate revocation"),
                "{crl}: {err}"
            );
        }
    }

    #[test]
    fn a_client_certificate_and_its_key_are_taken_out_of_the_url() {
        let cases = [
            (
                "postgres://h/db?sslcert=/c.pem&sslkey=/k.pem",
                "postgres://h/db",
                with_client_cert(choice(Check::Nothing, None), "/c.pem", "/k.pem"),
            ),
            (
                "postgres://h/db?sslmode=verify-full&sslkey=%2Fetc%2Fhoist%2Fk%20x.pem\
                 &sslrootcert=/ca.pem&application_name=x&sslcert=/etc/hoist/c.pem",
                "postgres://h/db?sslmode=require&application_name=x",
                with_client_cert(
                    choice(Check::Full, Some("/ca.pem")),
                    "/etc/hoist/c.pem",
                    "/etc/hoist/k x.pem",
                ),
            ),
            (
                "postgres://h/db?sslmode=require&sslcert=c.pem&sslkey=k.pem",
                "postgres://h/db?sslmode=require",
                with_client_cert(choice(Check::Nothing, None), "c.pem", "k.pem"),
            ),
        ];
        for (url, passed, expected) in cases {
            assert_eq!(split(url).unwrap(), (passed.to_string(), expected), "{url}");
        }
    }

    #[test]
    fn a_client_certificate_without_its_key_or_a_key_without_its_certificate_is_refused() {
        let err = split("postgres://h/db?sslmode=require&sslcert=/c.pem").unwrap_err();
        assert!(
            err.contains("sslcert is given without sslkey: add sslkey=PATH"),
            "{err}"
        );
        let err = split("postgres://h/db?sslkey=/k.pem").unwrap_err();
        assert!(
            err.contains("sslkey is given without sslcert: add sslcert=PATH"),
            "{err}"
        );
        let err = split("postgres://h/db?sslcert=&sslkey=/k.pem").unwrap_err();
        assert!(err.contains("sslcert is empty"), "{err}");
    }

    #[test]
    fn client_certificate_files_that_cannot_be_used_are_named_with_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        let file = |name: &str, text: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, text).unwrap();
            path.display().to_string()
        };
        let secret = "c2VjcmV0LWtleS1tYXRlcmlhbC0xMjM0NTY3ODkw";
        let cert = file(
            "client.crt",
            "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIU\n-----END CERTIFICATE-----\n",
        );
        let empty = file("empty.pem", "nothing here\n");
        let damaged_key = file(
            "damaged.key",
            &format!("-----BEGIN PRIVATE KEY-----\n{secret}!!\n-----END PRIVATE KEY-----\n"),
        );
        let key_in_cert = file(
            "key-as-cert.pem",
            &format!("-----BEGIN PRIVATE KEY-----\n{secret}\n-----END PRIVATE KEY-----\n"),
        );
        let encrypted = file(
            "encrypted.key",
            &format!(
                "-----BEGIN ENCRYPTED PRIVATE KEY-----\n{secret}\n-----END ENCRYPTED PRIVATE \
                 KEY-----\n"
            ),
        );
        let legacy_encrypted = file(
            "legacy.key",
            &format!(
                "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: \
                 AES-128-CBC,00112233445566778899AABBCCDDEEFF\n\n{secret}\n-----END RSA \
                 PRIVATE KEY-----\n"
            ),
        );
        let missing = "/nonexistent/client.key";
        let cases = [
            (
                &cert,
                missing,
                vec![missing, "cannot read it", "hoist's user can read"],
            ),
            (
                &missing.replace(".key", ".crt"),
                &cert,
                vec!["/nonexistent/client.crt", "cannot read it"],
            ),
            (&empty, &cert, vec!["empty.pem", "holds no PEM certificate"]),
            (
                &key_in_cert,
                &cert,
                vec![
                    "key-as-cert.pem",
                    "holds no PEM certificate",
                    "belongs in sslkey",
                ],
            ),
            (&cert, &empty, vec!["empty.pem", "holds no PEM private key"]),
            (
                &cert,
                &cert,
                vec![
                    "client.crt",
                    "holds no PEM private key",
                    "belongs in sslcert",
                ],
            ),
            (
                &cert,
                &damaged_key,
                vec!["damaged.key", "not a readable PEM file"],
            ),
            (
                &cert,
                &encrypted,
                vec!["encrypted.key", "is encrypted", "openssl pkey"],
            ),
            (&cert, &legacy_encrypted, vec!["legacy.key", "is encrypted"]),
        ];
        for (cert, key, words) in cases {
            let err = refusal(&with_client_cert(choice(Check::Nothing, None), cert, key));
            for word in words {
                assert!(err.contains(word), "{cert} {key}: {word:?} not in {err}");
            }
            assert!(
                !err.contains(&secret[..12]),
                "{cert} {key}: key shown: {err}"
            );
        }
    }

    #[test]
    fn a_root_cert_file_without_a_certificate_is_refused_with_its_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("empty.pem");
        std::fs::write(&path, "not a certificate\n").unwrap();
        let err = connector(&choice(Check::Full, path.to_str()))
            .err()
            .unwrap();
        assert!(
            err.contains("holds no PEM certificate") && err.contains("empty.pem"),
            "{err}"
        );
        let err = connector(&choice(Check::Full, Some("/nonexistent/ca.pem")))
            .err()
            .unwrap();
        assert!(err.contains("/nonexistent/ca.pem"), "{err}");
    }
}
