//! TLS to PostgreSQL, chosen by the URL's `sslmode` and `sslrootcert` as libpq reads them:
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

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
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
}

/// Parameters libpq has that this client does not: refused with a clear word rather
/// than the client's "unknown option".
const UNSUPPORTED: [&str; 4] = ["sslcert", "sslkey", "sslpassword", "sslcrl"];

/// The URL for the postgres client (`verify-ca`/`verify-full` written as `require`,
/// `sslrootcert` left out) and what it asks of TLS.
pub(crate) fn split(url: &str) -> Result<(String, TlsChoice), String> {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, query),
        None => (url, ""),
    };
    let mut mode = "prefer".to_string();
    let mut root_cert = None;
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
            key if UNSUPPORTED.contains(&key) => {
                return Err(format!(
                    "{key} is not supported: hoist does not present client certificates to \
                     PostgreSQL; authenticate with a password (or reach the database through \
                     a proxy that does)"
                ));
            }
            _ => kept.push(pair.to_string()),
        }
    }
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
    Ok((url, TlsChoice { check, root_cert }))
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
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("cannot set up TLS: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok(MakeRustlsConnect::new(config))
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

/// A word to add to a connection error that is about the server's certificate.
pub(crate) fn hint(error: &str) -> Option<&'static str> {
    error.contains("invalid peer certificate").then_some(
        "the server's certificate was not accepted: set sslrootcert=PATH to the CA that signed \
         it (and use the host name it names), or sslmode=require to encrypt without checking it",
    )
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
    fn unknown_modes_and_client_certificates_are_refused_by_name() {
        let err = split("postgres://h/db?sslmode=allow").unwrap_err();
        assert!(err.contains("sslmode=allow is not supported"), "{err}");
        let err = split("postgres://h/db?sslcert=/c.pem&sslkey=/k.pem").unwrap_err();
        assert!(err.contains("sslcert is not supported"), "{err}");
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
