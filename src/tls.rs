//! TLS for every outgoing connection the binary makes (Shopify, alert webhooks, SMTP): rustls on aws-lc-rs (the
//! provider kube and reqwest use) with the bundled Mozilla roots, so the trusted authorities are the same in any
//! image, including one without a CA bundle.
use std::sync::Arc;

use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};

/// A client configuration trusting the bundled Mozilla roots.
pub fn client_config() -> Result<ClientConfig, rustls::Error> {
    let mut roots = RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    Ok(
        ClientConfig::builder_with_provider(
            Arc::new(rustls::crypto::aws_lc_rs::default_provider()),
        )
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth(),
    )
}

/// An HTTP client builder on [`client_config`].
pub fn http_client() -> Result<reqwest::ClientBuilder, rustls::Error> {
    Ok(reqwest::Client::builder().tls_backend_preconfigured(client_config()?))
}
