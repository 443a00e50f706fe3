//! TLS in front of the dev server, which cannot serve TLS itself: a throwaway CA, and a
//! loopback relay that terminates TLS (optionally demanding a client certificate) and
//! pipes the plaintext HTTP/2 to the server's gRPC port.

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::rustls::server::WebPkiClientVerifier;
use tokio_rustls::rustls::{self, RootCertStore, ServerConfig};

/// A certificate authority that issues leaf certificates for the tests.
pub struct TestCa {
    cert: rcgen::Certificate,
    key: KeyPair,
}

/// A leaf certificate and its key, as DER (for the relay) and PEM files (for the worker).
pub struct Leaf {
    pub cert_der: CertificateDer<'static>,
    pub key_der: Vec<u8>,
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
}

impl TestCa {
    pub fn new(name: &str) -> TestCa {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let cert = params.self_signed(&key).unwrap();
        TestCa { cert, key }
    }

    /// Writes the CA certificate as PEM and returns its path.
    pub fn write_pem(&self, path: &Path) -> PathBuf {
        std::fs::write(path, self.cert.pem()).unwrap();
        path.to_owned()
    }

    pub fn der(&self) -> CertificateDer<'static> {
        self.cert.der().clone()
    }

    /// Issues a certificate for `names` (DNS names or IP addresses), written under `dir`.
    pub fn issue(&self, dir: &Path, file_stem: &str, names: &[&str]) -> Leaf {
        let key = KeyPair::generate().unwrap();
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut params = CertificateParams::new(names).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, file_stem);
        let cert = params.signed_by(&key, &self.cert, &self.key).unwrap();
        let cert_file = dir.join(format!("{file_stem}.pem"));
        let key_file = dir.join(format!("{file_stem}.key"));
        std::fs::write(&cert_file, cert.pem()).unwrap();
        std::fs::write(&key_file, key.serialize_pem()).unwrap();
        Leaf {
            cert_der: cert.der().clone(),
            key_der: key.serialize_der(),
            cert_file,
            key_file,
        }
    }
}

/// The relay; it stops when dropped.
pub struct TlsProxy {
    pub port: u16,
    /// Why handshakes failed, as the server side saw it.
    pub handshake_errors: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl TlsProxy {
    /// Terminates TLS with `server` and relays to `127.0.0.1:upstream_port`. With
    /// `client_ca`, a client certificate issued by it is required.
    pub async fn start(server: &Leaf, client_ca: Option<&TestCa>, upstream_port: u16) -> TlsProxy {
        let config = server_config(server, client_ca);
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let handshake_errors = Arc::new(Mutex::new(Vec::new()));
        let errors = handshake_errors.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                let errors = errors.clone();
                tokio::spawn(async move {
                    match acceptor.accept(client).await {
                        Ok(mut tls) => {
                            if let Ok(mut upstream) =
                                TcpStream::connect(("127.0.0.1", upstream_port)).await
                            {
                                let _ =
                                    tokio::io::copy_bidirectional(&mut tls, &mut upstream).await;
                            }
                        }
                        Err(err) => errors.lock().unwrap().push(err.to_string()),
                    }
                });
            }
        });
        TlsProxy {
            port,
            handshake_errors,
            task,
        }
    }

    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn handshake_errors(&self) -> Vec<String> {
        self.handshake_errors.lock().unwrap().clone()
    }
}

impl Drop for TlsProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn server_config(server: &Leaf, client_ca: Option<&TestCa>) -> ServerConfig {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap();
    let builder = match client_ca {
        Some(ca) => {
            let mut roots = RootCertStore::empty();
            roots.add(ca.der()).unwrap();
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .unwrap();
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server.key_der.clone()));
    let mut config = builder
        .with_single_cert(vec![server.cert_der.clone()], key)
        .unwrap();
    // gRPC is HTTP/2; the client insists on negotiating it.
    config.alpn_protocols = vec![b"h2".to_vec()];
    config
}
