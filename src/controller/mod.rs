//! The Kubernetes controller: not written yet (issue 6). The deployment side (manifests/) is ready for it; the
//! engine it will drive is [`crate::core::engine`], and the real-apiserver test tier (tests/support/apiserver.rs)
//! offers the kube client and stand-in Event and Lease CRDs its tests need.
