//! One redactor for everything that leaves the process: the debugger log, error messages and tracing logs.
//!
//! There is no process-wide instance: the entry point (the CLI, the controller) builds one [`Redactor`] and hands
//! clones of it to whatever redacts; clones share the values they learn.
//!
//! It removes the values it was told about (access tokens, Secret values, warehouse passwords) wherever they
//! appear, and, without being told, the password part of any URL's userinfo, the value of an
//! `X-Shopify-Access-Token` header and anything shaped like a Shopify access token.
use std::borrow::Cow;
use std::sync::{Arc, RwLock};

use once_cell::sync::Lazy;
use regex::Regex;

/// What a redacted value is replaced with.
pub const REDACTED: &str = "[REDACTED]";

/// Secrets shorter than this are not redacted by value: replacing every `ab` in a log would destroy it and
/// protect nothing. (URL passwords are still removed by position.)
pub const MIN_SECRET_LEN: usize = 4;

static URL_USERINFO: Lazy<Regex> = Lazy::new(|| {
    // scheme://user:password@ -> the password goes; a user alone is kept.
    Regex::new(r"([A-Za-z][A-Za-z0-9+.\-]*://[^/\s:@]*):[^@\s/]*@").expect("a valid pattern")
});
static TOKEN_HEADER: Lazy<Regex> = Lazy::new(|| {
    Regex::new(r#"(?i)(x-shopify-access-token"?\s*[:=]\s*"?)[^"\s,;}]+"#).expect("a valid pattern")
});
static SHOPIFY_TOKEN: Lazy<Regex> = Lazy::new(|| {
    // Admin API, custom app, private app and shared-secret token prefixes.
    Regex::new(r"\bshp(?:at|ca|pa|ss)_[A-Za-z0-9_]{8,}").expect("a valid pattern")
});

/// Known secret values plus the patterns above. Cloning shares the list: a value added through one clone is
/// redacted by all of them.
#[derive(Clone, Default)]
pub struct Redactor {
    secrets: Arc<RwLock<Vec<String>>>,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.secrets.read().map(|s| s.len()).unwrap_or(0);
        write!(f, "Redactor({n} secrets)")
    }
}

impl Redactor {
    /// A redactor that knows no values yet (the patterns apply).
    pub fn new() -> Redactor {
        Redactor::default()
    }

    /// Redacts `secret` from now on (and its percent-encoded form). Values shorter than [`MIN_SECRET_LEN`] are
    /// ignored.
    pub fn add(&self, secret: &str) {
        let secret = secret.trim();
        if secret.len() < MIN_SECRET_LEN {
            return;
        }
        let mut forms = vec![secret.to_string()];
        let encoded = percent_encode(secret);
        if encoded != secret {
            forms.push(encoded);
        }
        if let Ok(mut list) = self.secrets.write() {
            for f in forms {
                if !list.contains(&f) {
                    list.push(f);
                }
            }
            // Longest first, so a secret containing another is replaced whole.
            list.sort_by_key(|s| std::cmp::Reverse(s.len()));
        }
    }

    /// Redacts a URL's password (percent-decoded as well) from now on; the URL itself stays readable.
    pub fn add_url(&self, url: &str) {
        if let Some(password) = url_password(url) {
            self.add(&password);
            self.add(&percent_decode(&password));
        }
    }

    /// `text` with every known secret and pattern replaced by [`REDACTED`]; borrowed when nothing matched.
    pub fn redact<'t>(&self, text: &'t str) -> Cow<'t, str> {
        let mut out: Cow<'t, str> = Cow::Borrowed(text);
        if let Ok(list) = self.secrets.read() {
            for s in list.iter() {
                if out.contains(s.as_str()) {
                    out = Cow::Owned(out.replace(s.as_str(), REDACTED));
                }
            }
        }
        for (re, with) in [
            (&*URL_USERINFO, "$1:[REDACTED]@"),
            (&*TOKEN_HEADER, "${1}[REDACTED]"),
            (&*SHOPIFY_TOKEN, REDACTED),
        ] {
            if re.is_match(&out) {
                out = Cow::Owned(re.replace_all(&out, with).into_owned());
            }
        }
        out
    }

    /// Like [`Redactor::redact`], into an owned string.
    pub fn redact_owned(&self, text: String) -> String {
        match self.redact(&text) {
            Cow::Borrowed(_) => text,
            Cow::Owned(s) => s,
        }
    }
}

/// The password of `scheme://user:password@host/...`, as written (still percent-encoded).
fn url_password(url: &str) -> Option<String> {
    let rest = &url[url.find("://")? + 3..];
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    let userinfo = &authority[..authority.rfind('@')?];
    let (_, password) = userinfo.split_once(':')?;
    (!password.is_empty()).then(|| password.to_string())
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(v) = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values_and_their_encodings_go() {
        let r = Redactor::new();
        r.add("s3cr3t/p@ss");
        let text = "connect postgres://u:s3cr3t%2Fp%40ss@db/x failed; password s3cr3t/p@ss";
        let out = r.redact(text);
        assert!(!out.contains("s3cr3t"), "{out}");
        assert!(out.contains("postgres://u:[REDACTED]@db/x"), "{out}");
    }

    #[test]
    fn url_passwords_go_without_being_told() {
        let r = Redactor::new();
        let out = r.redact("warehouse postgres://shop:hunter22@10.0.0.1:5432/wh is slow");
        assert_eq!(
            out,
            "warehouse postgres://shop:[REDACTED]@10.0.0.1:5432/wh is slow"
        );
        // A user without a password and URLs without userinfo stay as they are.
        let plain = "see https://acme.myshopify.com/admin and postgres://shop@db/wh";
        assert_eq!(r.redact(plain), plain);
        assert!(matches!(r.redact(plain), Cow::Borrowed(_)));
    }

    #[test]
    fn add_url_learns_the_password_for_other_places() {
        let r = Redactor::new();
        r.add_url("mysql://root:pa%24%24word@127.0.0.1/db");
        assert_eq!(
            r.redact("auth failed for pa$$word"),
            "auth failed for [REDACTED]"
        );
        assert_eq!(r.redact("x pa%24%24word y"), "x [REDACTED] y");
    }

    #[test]
    fn headers_and_token_shapes_go() {
        let r = Redactor::new();
        let out = r.redact(r#"{"X-Shopify-Access-Token": "abcdef123456", "x": 1}"#);
        assert!(!out.contains("abcdef123456"), "{out}");
        let out = r.redact("x-shopify-access-token: zzzzzzzz\nnext");
        assert!(!out.contains("zzzzzzzz"), "{out}");
        assert!(out.contains("next"));
        let out = r.redact("token shpat_0123456789abcdef used");
        assert_eq!(out, "token [REDACTED] used");
    }

    #[test]
    fn short_values_are_not_redacted_by_value() {
        let r = Redactor::new();
        r.add("ab");
        assert_eq!(r.redact("abc"), "abc");
    }

    #[test]
    fn clones_share_what_they_learn() {
        let r = Redactor::new();
        let c = r.clone();
        c.add("tok-123456");
        assert_eq!(r.redact("tok-123456"), REDACTED);
    }
}
