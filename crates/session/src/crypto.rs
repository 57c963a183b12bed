//! Session ids, their store keys, and HMAC-bound CSRF tokens.
//!
//! Hand-written on purpose: the construction is small, and owning it lets the token be
//! bound to the *session* (not only to a cookie, as plain double-submit is), verified
//! under several keys for rotation, and recomputed from a stored nonce so a re-init
//! can re-send the current token without storing it.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

/// Bytes of entropy in a secret session id (256 bits; at least 128 are needed).
const SESSION_ID_BYTES: usize = 32;
/// Length of a session id once base64url-encoded without padding.
pub const SESSION_ID_LEN: usize = 43;
/// Bytes of the public session handle.
const PUBLIC_ID_BYTES: usize = 16;
/// Bytes of the per-token CSRF nonce.
pub const CSRF_NONCE_BYTES: usize = 16;
/// Bytes of the CSRF MAC (full SHA-256 output).
const CSRF_MAC_BYTES: usize = 32;
/// Length of a CSRF token on the wire (base64url of nonce ‖ mac).
pub const CSRF_TOKEN_LEN: usize = 64;
/// Bytes of a server key.
pub const KEY_BYTES: usize = 32;
/// Domain separation label mixed into every CSRF MAC.
const CSRF_LABEL: &[u8] = b"trustyconvert/csrf/v1";

/// Fills `buf` from the operating system's CSPRNG.
///
/// # Panics
/// Only if the OS has no working random source, in which case nothing secure can run.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    getrandom::fill(&mut buf).expect("the operating system CSPRNG is unavailable");
    buf
}

/// `N` bytes from the thread's CSPRNG (`rand`'s `ThreadRng`: ChaCha12 keyed from the
/// operating system and re-keyed every 64 KiB of output, as tower-sessions draws its
/// ids): for what every request may need (session ids, handles, CSRF nonces), without
/// a system call each. Long-lived secrets come from [`random_bytes`].
fn thread_random<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    rand::fill(&mut buf[..]);
    buf
}

/// The secret id a client holds in its session cookie. Never logged, never in a body.
///
/// Kept as its cookie text in a fixed array: reading it from every request's cookie
/// then allocates nothing.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionSecret([u8; SESSION_ID_LEN]);

impl std::fmt::Debug for SessionSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionSecret(<redacted>)")
    }
}

impl SessionSecret {
    /// A fresh id with 256 bits from the CSPRNG.
    pub fn generate() -> Self {
        Self::from_random(&thread_random::<SESSION_ID_BYTES>())
    }

    fn from_random(bytes: &[u8; SESSION_ID_BYTES]) -> Self {
        let mut text = [0u8; SESSION_ID_LEN];
        let written = URL_SAFE_NO_PAD
            .encode_slice(bytes, &mut text)
            .expect("32 bytes encode to 43 characters");
        debug_assert_eq!(written, SESSION_ID_LEN);
        Self(text)
    }

    /// Accepts a cookie value only if it has exactly the shape of an id this server
    /// issues; anything else (oversized, non-ASCII, wrong alphabet, non-canonical
    /// trailing bits) is no session.
    pub fn parse(cookie_value: &[u8]) -> Option<Self> {
        let text: [u8; SESSION_ID_LEN] = cookie_value.try_into().ok()?;
        // base64 asks for room for its length estimate (33 bytes), not the exact 32.
        let mut decoded = [0u8; SESSION_ID_BYTES + 1];
        let length = URL_SAFE_NO_PAD.decode_slice(text, &mut decoded).ok()?;
        (length == SESSION_ID_BYTES).then_some(Self(text))
    }

    /// The cookie value.
    pub fn expose(&self) -> &str {
        std::str::from_utf8(&self.0).expect("base64url text is ASCII")
    }

    /// The key the store files this session under: SHA-256 of the id, so a copy of the
    /// store cannot be replayed as cookies. Unkeyed on purpose: the id has 256 bits of
    /// entropy, and a keyed hash would make every session die with a key rotation.
    pub fn store_key(&self) -> SessionKey {
        SessionKey(Sha256::digest(self.0).into())
    }
}

/// The store key of a session: a hash of its secret id.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SessionKey(pub [u8; 32]);

impl std::fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionKey(<hash>)")
    }
}

/// A fresh public handle for a session, safe to put in bodies and logs.
pub fn generate_public_id() -> String {
    URL_SAFE_NO_PAD.encode(thread_random::<PUBLIC_ID_BYTES>())
}

/// Everything random a new session needs: its secret id, public handle and first CSRF
/// nonce, in one draw from the thread's CSPRNG.
#[derive(Debug)]
pub struct FreshSession {
    /// The secret id (256 bits).
    pub secret: SessionSecret,
    /// The public handle (128 bits).
    pub public_id: String,
    /// The first CSRF nonce (128 bits).
    pub csrf_nonce: [u8; CSRF_NONCE_BYTES],
}

impl FreshSession {
    /// Draws a fresh set.
    pub fn generate() -> Self {
        let bytes = thread_random::<{ SESSION_ID_BYTES + PUBLIC_ID_BYTES + CSRF_NONCE_BYTES }>();
        let (secret, rest) = bytes.split_at(SESSION_ID_BYTES);
        let (public_id, nonce) = rest.split_at(PUBLIC_ID_BYTES);
        Self {
            secret: SessionSecret::from_random(secret.try_into().expect("split at its length")),
            public_id: URL_SAFE_NO_PAD.encode(public_id),
            csrf_nonce: nonce.try_into().expect("split at its length"),
        }
    }
}

/// A fresh CSRF nonce.
pub fn generate_csrf_nonce() -> [u8; CSRF_NONCE_BYTES] {
    thread_random()
}

/// Why a CSRF token failed verification. Each maps to a metrics label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenFault {
    /// Not base64url of the right length.
    Malformed,
    /// No configured key produced this MAC for this session: tampered, planted from
    /// another session, or signed with an unknown key.
    BadSignature,
}

/// The server's signing keys: the first signs, all verify.
///
/// Each key is kept as an HMAC already keyed and fed the token label: a MAC then
/// starts from a copy of that state instead of hashing the key's two pad blocks
/// again (three SHA-256 compressions per token instead of five; minting is on every
/// session answer, verifying on every unsafe request).
#[derive(Clone)]
pub struct Keyring {
    keys: Vec<HmacSha256>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Keyring({} keys)", self.keys.len())
    }
}

impl Keyring {
    /// A keyring from keys in priority order. Returns `None` for an empty list.
    pub fn new(keys: Vec<[u8; KEY_BYTES]>) -> Option<Self> {
        let keys: Vec<HmacSha256> = keys
            .iter()
            .map(|key| {
                let mut mac = HmacSha256::new_from_slice(key).expect("HMAC accepts any key length");
                mac.update(CSRF_LABEL);
                mac
            })
            .collect();
        (!keys.is_empty()).then_some(Self { keys })
    }

    /// The token for `nonce` in the session filed under `key`, signed with the first key.
    pub fn sign(&self, key: &SessionKey, nonce: &[u8; CSRF_NONCE_BYTES]) -> String {
        let mac = csrf_mac(&self.keys[0], key, nonce);
        let mut raw = [0u8; CSRF_NONCE_BYTES + CSRF_MAC_BYTES];
        raw[..CSRF_NONCE_BYTES].copy_from_slice(nonce);
        raw[CSRF_NONCE_BYTES..].copy_from_slice(&mac);
        URL_SAFE_NO_PAD.encode(raw)
    }

    /// Checks that `token` was minted by one of our keys for this session and returns
    /// its nonce. Every MAC comparison is constant-time.
    pub fn verify(
        &self,
        key: &SessionKey,
        token: &[u8],
    ) -> Result<[u8; CSRF_NONCE_BYTES], TokenFault> {
        if token.len() != CSRF_TOKEN_LEN {
            return Err(TokenFault::Malformed);
        }
        let raw = URL_SAFE_NO_PAD
            .decode(token)
            .map_err(|_| TokenFault::Malformed)?;
        let (nonce, mac) = raw.split_at(CSRF_NONCE_BYTES);
        let nonce: [u8; CSRF_NONCE_BYTES] = nonce.try_into().map_err(|_| TokenFault::Malformed)?;
        // Try every key without an early exit so timing does not reveal which one matched.
        let mut valid = subtle::Choice::from(0);
        for server_key in &self.keys {
            valid |= csrf_mac(server_key, key, &nonce).ct_eq(mac);
        }
        if bool::from(valid) {
            Ok(nonce)
        } else {
            Err(TokenFault::BadSignature)
        }
    }
}

/// HMAC-SHA256(server key, label ‖ session key ‖ nonce), from the keyed state.
fn csrf_mac(prepared: &HmacSha256, key: &SessionKey, nonce: &[u8]) -> [u8; CSRF_MAC_BYTES] {
    let mut mac = prepared.clone();
    mac.update(&key.0);
    mac.update(nonce);
    mac.finalize().into_bytes().into()
}

/// Constant-time equality of two byte strings (length may leak, content does not).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_the_nonce_and_hmac_sha256_of_label_session_key_and_nonce() {
        let server_key = [9u8; KEY_BYTES];
        let session = SessionKey([3u8; 32]);
        let nonce = [5u8; CSRF_NONCE_BYTES];
        let mut mac = HmacSha256::new_from_slice(&server_key).unwrap();
        mac.update(CSRF_LABEL);
        mac.update(&session.0);
        mac.update(&nonce);
        let mut expected = nonce.to_vec();
        expected.extend_from_slice(&mac.finalize().into_bytes());
        let keyring = Keyring::new(vec![server_key]).unwrap();
        let token = keyring.sign(&session, &nonce);
        assert_eq!(token, URL_SAFE_NO_PAD.encode(&expected));
        // The prepared state is not consumed: the same token again, and it verifies.
        assert_eq!(keyring.sign(&session, &nonce), token);
        assert_eq!(keyring.verify(&session, token.as_bytes()), Ok(nonce));
    }

    fn keyring(byte: u8) -> Keyring {
        Keyring::new(vec![[byte; KEY_BYTES]]).unwrap()
    }

    #[test]
    fn session_ids_do_not_collide_over_one_million() {
        let mut seen = std::collections::HashSet::with_capacity(1_000_000);
        for _ in 0..1_000_000 {
            assert!(seen.insert(FreshSession::generate().secret.store_key().0));
        }
    }

    #[test]
    fn a_fresh_sessions_id_handle_and_nonce_are_separate_random_draws() {
        let mut handles = std::collections::HashSet::new();
        let mut nonces = std::collections::HashSet::new();
        for _ in 0..10_000 {
            let fresh = FreshSession::generate();
            let secret = URL_SAFE_NO_PAD.decode(fresh.secret.expose()).unwrap();
            let handle = URL_SAFE_NO_PAD.decode(&fresh.public_id).unwrap();
            assert_eq!(secret.len(), SESSION_ID_BYTES);
            assert_eq!(handle.len(), PUBLIC_ID_BYTES);
            assert!(SessionSecret::parse(fresh.secret.expose().as_bytes()).is_some());
            // No part repeats another part's bytes, and none repeats across sessions.
            assert!(!secret.windows(PUBLIC_ID_BYTES).any(|w| w == handle));
            assert!(!secret
                .windows(CSRF_NONCE_BYTES)
                .any(|w| w == fresh.csrf_nonce));
            assert_ne!(handle, fresh.csrf_nonce);
            assert!(handles.insert(handle));
            assert!(nonces.insert(fresh.csrf_nonce));
        }
    }

    #[test]
    fn only_well_formed_ids_parse() {
        let id = SessionSecret::generate();
        assert_eq!(
            SessionSecret::parse(id.expose().as_bytes()),
            Some(id.clone())
        );
        assert!(SessionSecret::parse(b"short").is_none());
        assert!(SessionSecret::parse(&[b'a'; 4000]).is_none());
        let mut bad = id.expose().as_bytes().to_vec();
        bad[0] = b'+';
        assert!(SessionSecret::parse(&bad).is_none());
    }

    #[test]
    fn token_is_bound_to_its_session() {
        let ring = keyring(1);
        let a = SessionSecret::generate().store_key();
        let b = SessionSecret::generate().store_key();
        let nonce = generate_csrf_nonce();
        let token = ring.sign(&a, &nonce);
        assert_eq!(token.len(), CSRF_TOKEN_LEN);
        assert_eq!(ring.verify(&a, token.as_bytes()), Ok(nonce));
        assert_eq!(
            ring.verify(&b, token.as_bytes()),
            Err(TokenFault::BadSignature)
        );
    }

    #[test]
    fn rotation_old_keys_verify_unknown_keys_do_not() {
        let old = keyring(1);
        let rotated = Keyring::new(vec![[2; KEY_BYTES], [1; KEY_BYTES]]).unwrap();
        let session = SessionSecret::generate().store_key();
        let nonce = generate_csrf_nonce();
        let token = old.sign(&session, &nonce);
        assert_eq!(rotated.verify(&session, token.as_bytes()), Ok(nonce));
        assert_eq!(
            keyring(3).verify(&session, token.as_bytes()),
            Err(TokenFault::BadSignature)
        );
    }

    #[test]
    fn tampered_token_fails() {
        let ring = keyring(1);
        let session = SessionSecret::generate().store_key();
        let mut token = ring.sign(&session, &generate_csrf_nonce()).into_bytes();
        token[10] = if token[10] == b'A' { b'B' } else { b'A' };
        assert_eq!(ring.verify(&session, &token), Err(TokenFault::BadSignature));
        assert_eq!(
            ring.verify(&session, b"not a token"),
            Err(TokenFault::Malformed)
        );
    }
}
