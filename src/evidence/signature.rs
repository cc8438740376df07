//! Signed evidence: who made a report, not only that the history was not edited. The hash
//! chain shows an edit inside a history; a signature shows that the holder of a key made the
//! report. Signatures are in minisign's format (Ed25519, the `minisign` crate by minisign's
//! author), so that an auditor checks a report with the `minisign` tool itself
//! (`minisign -Vm report.json -p rebound.pub`), without rebound.
//!
//! The secret key is a file as `minisign -G` writes it. A key made with `-W` has no password;
//! for a password-protected key the password is read from `REBOUND_SIGN_KEY_PASSWORD`, never
//! asked at a terminal (drills run unattended). The key file's text, the key and the password
//! are registered as secrets (`crate::secret`), so that no log line can carry them, and the key
//! is never formatted: the crate's `Debug` of a secret key prints its bytes.

use std::io::Cursor;
use std::path::Path;

use minisign::{PublicKeyBox, SecretKeyBox, SignatureBox};

/// The environment variable a password-protected key's password is read from.
pub const PASSWORD_ENV: &str = "REBOUND_SIGN_KEY_PASSWORD";

/// What the file beside a signed file is called: `report.json.minisig`, minisign's own name.
pub const SUFFIX: &str = ".minisig";

#[derive(Debug, thiserror::Error)]
pub enum SignatureError {
    #[error("--sign-key {path}: cannot read it: {why}")]
    Unreadable { path: String, why: String },
    #[error(
        "--sign-key {path}: not a minisign secret key ({why}); make one with `minisign -G -W -s FILE -p FILE.pub`"
    )]
    NotAKey { path: String, why: String },
    #[error(
        "--sign-key {path}: the key is protected by a password; set {PASSWORD_ENV}, or make a key without one (`minisign -G -W`)"
    )]
    NeedsPassword { path: String },
    #[error("--sign-key {path}: the key cannot be opened with {PASSWORD_ENV}: {why}")]
    WrongPassword { path: String, why: String },
    #[error("--pubkey {path}: not a minisign public key: {why}")]
    NotAPublicKey { path: String, why: String },
    #[error("cannot sign {what}: {why}")]
    Sign { what: String, why: String },
}

impl SignatureError {
    /// A key or public key that is not usable is the user's input; a signing that fails is the
    /// machine's.
    pub fn is_input(&self) -> bool {
        !matches!(self, SignatureError::Sign { .. })
    }
}

/// A loaded secret key. Neither `Debug` nor `Clone`: it cannot be printed by accident.
pub struct Signer {
    key: minisign::SecretKey,
    public: minisign::PublicKey,
}

impl Signer {
    /// The key in `path`, opened with `password` when it has one (`REBOUND_SIGN_KEY_PASSWORD`).
    pub fn load(path: &Path, password: Option<String>) -> Result<Signer, SignatureError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| SignatureError::Unreadable {
            path: shown.clone(),
            why: e.to_string(),
        })?;
        // Before anything can fail and say why: every line of the file is key material or its
        // comment; the comment is harmless, the rest must never be logged.
        for line in text.lines().skip(1) {
            crate::secret::register(line.trim());
        }
        if let Some(p) = &password {
            crate::secret::register(p);
        }
        let not_a_key = |why: String| SignatureError::NotAKey {
            path: shown.clone(),
            why,
        };
        let (encrypted, bytes) = decode(&text).map_err(not_a_key)?;
        let boxed = SecretKeyBox::from_string(&text).map_err(|e| not_a_key(e.to_string()))?;
        let key = match (encrypted, password) {
            // minisign 0.11 (Debian's) writes a `-W` key with an all-zero checksum, which the
            // crate takes for corruption: such a key is read as it is. A key with a checksum
            // is checked.
            (false, _) if bytes.ends_with(&[0; CHECKSUM]) => {
                minisign::SecretKey::from_bytes(&bytes).map_err(|e| not_a_key(e.to_string()))?
            }
            (false, _) => boxed
                .into_unencrypted_secret_key()
                .map_err(|e| not_a_key(e.to_string()))?,
            (true, None) => return Err(SignatureError::NeedsPassword { path: shown }),
            // Some(password): the crate asks at the terminal only when given none.
            (true, Some(p)) => {
                boxed
                    .into_secret_key(Some(p))
                    .map_err(|e| SignatureError::WrongPassword {
                        path: shown.clone(),
                        why: e.to_string(),
                    })?
            }
        };
        let public =
            minisign::PublicKey::from_secret_key(&key).map_err(|e| not_a_key(e.to_string()))?;
        Ok(Signer { key, public })
    }

    /// The password from the environment, if set.
    pub fn password_from_env() -> Option<String> {
        std::env::var(PASSWORD_ENV).ok().filter(|p| !p.is_empty())
    }

    /// The signature of `bytes` as a `.minisig` file's text. `trusted` is the trusted comment:
    /// signed too, and printed by `minisign -V`, so it names what was signed.
    pub fn sign(&self, bytes: &[u8], trusted: &str) -> Result<String, SignatureError> {
        minisign::sign(
            Some(&self.public),
            &self.key,
            Cursor::new(bytes),
            Some(trusted),
            Some("signature from rebound, minisign format"),
        )
        .map(SignatureBox::into_string)
        .map_err(|e| SignatureError::Sign {
            what: trusted.to_string(),
            why: e.to_string(),
        })
    }
}

/// The checksum at the end of a secret key (BLAKE2b-256).
const CHECKSUM: usize = 32;
/// A secret key's bytes: algorithms, KDF salt and limits, key id, key, checksum.
const KEY_BYTES: usize = 2 + 2 + 2 + 32 + 8 + 8 + 8 + 64 + CHECKSUM;

/// A minisign secret key file's key bytes, and whether they are protected by a password: the
/// second pair of bytes names the KDF, `Sc` (scrypt) or two zero bytes (none).
fn decode(text: &str) -> Result<(bool, Vec<u8>), String> {
    use base64::Engine as _;
    let line = text
        .lines()
        .nth(1)
        .ok_or_else(|| "no key line after the comment".to_string())?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(line.trim())
        .map_err(|e| format!("its key line is not base64: {e}"))?;
    if bytes.len() != KEY_BYTES {
        return Err(format!("{} bytes, not {KEY_BYTES}", bytes.len()));
    }
    match bytes.get(2..4) {
        Some(b"Sc") => Ok((true, bytes)),
        Some([0, 0]) => Ok((false, bytes)),
        _ => Err("unknown key format".to_string()),
    }
}

/// A public key, for `rebound history verify --pubkey`.
pub struct Verifier {
    key: minisign::PublicKey,
}

impl Verifier {
    /// The public key in `path`, as `minisign -G` writes it (`minisign.pub`).
    pub fn load(path: &Path) -> Result<Verifier, SignatureError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| SignatureError::Unreadable {
            path: shown.clone(),
            why: e.to_string(),
        })?;
        let key = PublicKeyBox::from_string(&text)
            .and_then(PublicKeyBox::into_public_key)
            .map_err(|e| SignatureError::NotAPublicKey {
                path: shown,
                why: e.to_string(),
            })?;
        Ok(Verifier { key })
    }

    /// Whether `signature` (a `.minisig` file's text) signs `bytes` with this key; its trusted
    /// comment when it does, why not when not.
    pub fn verify(&self, bytes: &[u8], signature: &str) -> Result<String, String> {
        let sig =
            SignatureBox::from_string(signature).map_err(|e| format!("not a signature: {e}"))?;
        // quiet: the crate would print to stderr; legacy (not prehashed) signatures refused.
        minisign::verify(&self.key, &sig, Cursor::new(bytes), true, false, false)
            .map_err(|e| e.to_string())?;
        sig.trusted_comment().map_err(|e| e.to_string())
    }
}
