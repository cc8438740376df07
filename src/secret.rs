//! Secrets: values that must reach the cloud or a child process and nothing else: not the logs
//! (at any `RUST_LOG` level, the AWS SDK's own trace of requests included), not the journal, the
//! report or the history.
//!
//! Three kinds of value are secret:
//! - a `param NAME secret`: its value is read from the environment variable
//!   `REBOUND_SECRET_NAME` (never from `--set`, which other users can read in `ps`), only by
//!   `run` and `resume`, and may be used only in `exec`'s `env` and `launch`'s `user_data`;
//! - every `user_data` (it is where bootstrap credentials usually go);
//! - the AWS credentials the run signs with: the environment's, and whatever the SDK's
//!   credential chain provides later (profiles, SSO, an assumed `role`).
//!
//! Two defences, because each alone has a gap. Records (step inputs, outputs, errors) hold
//! [`PLACEHOLDER`] in place of a secret by construction: the executor resolves a secret only into
//! the inputs an action sends, never into the copy it records. And every secret value is
//! registered here, with the encodings it travels in (base64 for user data, form-encoding of the
//! EC2 query protocol, JSON escaping, the decimal bytes of a traced request body), so that [`scrub`] can take it out of any text: each log
//! line ([`ScrubbedStderr`]) and an `exec` step's stdout pass through it. Journal lines are not
//! scrubbed as text: a short secret that happened to match a JSON key would corrupt the journal;
//! what they hold is already placeholders.

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::sync::{PoisonError, RwLock};

use aho_corasick::{AhoCorasick, MatchKind};

use base64::Engine as _;

/// What a record shows where a secret was.
pub(crate) const PLACEHOLDER: &str = "<secret>";

/// Secrets shorter than this are not scrubbed from text: replacing every `a` in a log would hide
/// everything and protect nothing. The checker refuses shorter secret params.
pub(crate) const MIN_LEN: usize = 8;

/// What every secret param's environment variable starts with.
pub(crate) const ENV_PREFIX: &str = "REBOUND_SECRET_";

/// The environment variables of rebound's own secrets beyond the params': the `--notify`
/// webhook (its URL is the right to post) and a signing key's password.
const OWN_SECRET_VARS: [&str; 2] = ["REBOUND_NOTIFY_URL", "REBOUND_SIGN_KEY_PASSWORD"];

/// Whether an environment variable holds a secret a child process must not inherit: a secret
/// param's (`REBOUND_SECRET_*`, under `daemon` other runbooks' too) or one of rebound's own.
pub(crate) fn is_secret_var(name: &str) -> bool {
    name.starts_with(ENV_PREFIX) || OWN_SECRET_VARS.contains(&name)
}

/// The environment variable a secret param is read from: `REBOUND_SECRET_` and the param's name
/// in capitals (`dns_token` → `REBOUND_SECRET_DNS_TOKEN`).
pub(crate) fn env_var(param: &str) -> String {
    format!("{ENV_PREFIX}{}", param.to_ascii_uppercase())
}

/// A secret value. Its `Debug` shows the placeholder, so that a `{:?}` of a runbook or a plan
/// cannot print it; the value is only had through [`Secret::expose`].
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value and registers it for scrubbing.
    pub(crate) fn new(value: String) -> Secret {
        register(&value);
        Secret(value)
    }

    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(PLACEHOLDER)
    }
}

/// The registered forms and one matcher for all of them. Registering is rare (once per
/// secret), scrubbing is every log line: so the matcher (Aho-Corasick, leftmost-longest, so
/// that a secret containing another is replaced whole) is rebuilt on registration and one pass
/// over a line finds every form.
struct Register {
    forms: BTreeSet<String>,
    matcher: Option<AhoCorasick>,
}

static REGISTER: RwLock<Register> = RwLock::new(Register {
    forms: BTreeSet::new(),
    matcher: None,
});

/// Registers a secret value, and the forms it travels in, for [`scrub`].
pub(crate) fn register(value: &str) {
    if value.len() < MIN_LEN {
        return;
    }
    let b64 = base64::engine::general_purpose::STANDARD.encode(value);
    let mut forms = vec![
        value.to_string(),
        // A JSON string (journal lines, JSON logs) escapes quotes, backslashes and newlines.
        json_escaped(value),
        // Debug formatting of a string (`?field` in a log event) escapes the same way, and more.
        debug_escaped(value),
        // EC2's query protocol sends user data base64-encoded, then form-encoded.
        form_encoded(&b64),
        form_encoded(value),
        b64,
    ];
    // The SDK's trace of a signed request (`LOG_SIGNABLE_BODY=true`) prints the body as a
    // list of decimal bytes.
    let decimal: Vec<String> = forms.iter().map(|f| decimal_bytes(f)).collect();
    forms.extend(decimal);
    forms.retain(|f| f.len() >= MIN_LEN);
    let mut register = REGISTER.write().unwrap_or_else(PoisonError::into_inner);
    let before = register.forms.len();
    register.forms.extend(forms);
    if register.forms.len() != before {
        register.matcher = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostLongest)
            .build(&register.forms)
            .ok();
    }
}

/// `text` with every registered secret, in any of its forms, replaced by [`PLACEHOLDER`].
pub fn scrub(text: &str) -> Cow<'_, str> {
    let register = REGISTER.read().unwrap_or_else(PoisonError::into_inner);
    match &register.matcher {
        Some(m) if m.is_match(text) => {
            let mut out = String::with_capacity(text.len());
            m.replace_all_with(text, &mut out, |_, _, out| {
                out.push_str(PLACEHOLDER);
                true
            });
            Cow::Owned(out)
        }
        _ => Cow::Borrowed(text),
    }
}

/// Registers the AWS credentials of the environment, before anything can log them.
pub fn register_env_credentials() {
    for var in [
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_SECURITY_TOKEN",
    ] {
        if let Ok(v) = std::env::var(var) {
            register(&v);
        }
    }
}

/// `[104, 105]` without its brackets: how `Debug` shows a byte slice.
fn decimal_bytes(value: &str) -> String {
    value
        .bytes()
        .map(|b| b.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The text between the quotes of a quoted form: both quotes are ASCII, one byte each.
fn unquoted(quoted: &str) -> String {
    quoted
        .get(1..quoted.len().saturating_sub(1))
        .unwrap_or_default()
        .to_string()
}

fn json_escaped(value: &str) -> String {
    unquoted(&serde_json::Value::String(value.to_string()).to_string())
}

fn debug_escaped(value: &str) -> String {
    unquoted(&format!("{value:?}"))
}

fn form_encoded(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char);
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_child_inherits_no_secret_variable() {
        for name in [
            "REBOUND_SECRET_DNS_TOKEN",
            "REBOUND_NOTIFY_URL",
            "REBOUND_SIGN_KEY_PASSWORD",
        ] {
            assert!(is_secret_var(name), "{name}");
        }
        for name in ["PATH", "REBOUND_STATE_DIR", "REBOUND_HISTORY"] {
            assert!(!is_secret_var(name), "{name}");
        }
    }

    #[test]
    fn every_form_of_a_registered_secret_is_scrubbed() {
        let s = "hunter2-\"quoted\"\nline+/=";
        register(s);
        let b64 = base64::engine::general_purpose::STANDARD.encode(s);
        for text in [
            format!("value {s} end"),
            format!("json {}", json_escaped(s)),
            format!("debug {s:?}"),
            format!("body UserData={}&x=1", form_encoded(&b64)),
            format!("b64 {b64}"),
            format!(
                "body: Bytes([1, 2, {}, 3])",
                decimal_bytes(&form_encoded(&b64))
            ),
        ] {
            let out = scrub(&text);
            assert!(out.contains(PLACEHOLDER), "{text} -> {out}");
            assert!(!out.contains("hunter2"), "{text} -> {out}");
            assert!(!out.contains(&b64), "{text} -> {out}");
            assert!(!out.contains(&decimal_bytes(s)), "{text} -> {out}");
        }
        assert_eq!(scrub("nothing here"), "nothing here");
    }

    #[test]
    fn short_values_are_not_registered() {
        register("short");
        assert_eq!(scrub("short"), "short");
    }

    #[test]
    fn debug_never_shows_the_value() {
        let s = Secret::new("debug-hidden-value".into());
        assert_eq!(format!("{s:?}"), PLACEHOLDER);
        assert_eq!(s.expose(), "debug-hidden-value");
    }

    #[test]
    fn the_env_var_is_the_name_in_capitals() {
        assert_eq!(env_var("dns_token"), "REBOUND_SECRET_DNS_TOKEN");
    }
}
