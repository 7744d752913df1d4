//! Access and refresh tokens, signed links, and secrets that never print.
//!
//! An access token is `base64url(claims JSON) . base64url(HMAC-SHA256)`: short
//! lived and checked without a database (so the query API can check it too).
//! A refresh token is 256 random bits; only its SHA-256 is stored.
//!
//! # Layout
//! - this file: [`TokenSigner`] (access tokens and signed blob links),
//!   refresh tokens.
//! - `secret`: [`Secret`], a value whose `Debug` form is redacted.

use anote_domain::UserId;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use uuid::Uuid;

mod secret;

pub use secret::Secret;

/// What an access token says.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    /// The account.
    pub sub: UserId,
    /// The session that issued it.
    pub sid: Uuid,
    /// Expiry, in seconds since the Unix epoch.
    pub exp: i64,
}

/// Why an access token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not a token of ours, or altered.
    #[error("the token is malformed or its signature is wrong")]
    Invalid,
    /// Past its expiry.
    #[error("the token has expired")]
    Expired,
}

/// Signs and checks access tokens with one HMAC key.
#[derive(Clone, Debug)]
pub struct TokenSigner {
    key: Secret<Vec<u8>>,
}

impl TokenSigner {
    /// A signer with this key (at least 32 bytes is advised).
    pub fn new(key: Secret<Vec<u8>>) -> Self {
        Self { key }
    }

    fn mac(&self) -> Hmac<Sha256> {
        // HMAC accepts keys of any length, so this cannot fail.
        <Hmac<Sha256> as Mac>::new_from_slice(self.key.expose()).unwrap_or_else(|_| unreachable!())
    }

    /// Issues a token carrying these claims.
    pub fn sign(&self, claims: &AccessClaims) -> String {
        let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap_or_default());
        let mut mac = self.mac();
        mac.update(body.as_bytes());
        let sig = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        format!("{body}.{sig}")
    }

    /// Checks a token's signature and expiry and returns its claims.
    pub fn verify(&self, token: &str, now: OffsetDateTime) -> Result<AccessClaims, TokenError> {
        let (body, sig) = token.split_once('.').ok_or(TokenError::Invalid)?;
        let sig = URL_SAFE_NO_PAD
            .decode(sig)
            .map_err(|_| TokenError::Invalid)?;
        let mut mac = self.mac();
        mac.update(body.as_bytes());
        mac.verify_slice(&sig).map_err(|_| TokenError::Invalid)?;
        let json = URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| TokenError::Invalid)?;
        let claims: AccessClaims =
            serde_json::from_slice(&json).map_err(|_| TokenError::Invalid)?;
        if claims.exp <= now.unix_timestamp() {
            return Err(TokenError::Expired);
        }
        Ok(claims)
    }
}

impl TokenSigner {
    /// The token of share link `share_id`: the id and a 128-bit HMAC of it,
    /// URL-safe. Derived, never stored: only the id is in the log.
    pub fn share_token(&self, share_id: Uuid) -> String {
        let mut bytes = share_id.as_bytes().to_vec();
        bytes.extend_from_slice(&self.share_mac(share_id)[..16]);
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// The share link a token names, if the token is genuine.
    pub fn verify_share_token(&self, token: &str) -> Option<Uuid> {
        let bytes = URL_SAFE_NO_PAD.decode(token).ok()?;
        let (id, tag) = bytes.split_at_checked(16)?;
        let share_id = Uuid::from_slice(id).ok()?;
        let mut mac = self.mac();
        mac.update(b"share-link:");
        mac.update(share_id.as_bytes());
        mac.verify_truncated_left(tag).ok()?;
        (tag.len() == 16).then_some(share_id)
    }

    fn share_mac(&self, share_id: Uuid) -> Vec<u8> {
        let mut mac = self.mac();
        mac.update(b"share-link:");
        mac.update(share_id.as_bytes());
        mac.finalize().into_bytes().to_vec()
    }
}

impl TokenSigner {
    /// The signature of a local blob URL's `message` (method, key and
    /// query), URL-safe.
    pub fn sign_blob_url(&self, message: &str) -> String {
        URL_SAFE_NO_PAD.encode(self.blob_mac(message).finalize().into_bytes())
    }

    /// Whether `signature` is this key's signature of `message`.
    pub fn verify_blob_url(&self, message: &str, signature: &str) -> bool {
        URL_SAFE_NO_PAD
            .decode(signature)
            .is_ok_and(|sig| self.blob_mac(message).verify_slice(&sig).is_ok())
    }

    fn blob_mac(&self, message: &str) -> Hmac<Sha256> {
        let mut mac = self.mac();
        mac.update(b"blob-url:");
        mac.update(message.as_bytes());
        mac
    }
}

impl TokenSigner {
    /// A keyed digest (HMAC-SHA256) of `parts` for `purpose`, for what is
    /// stored to be recognised later but must not confirm a guess to
    /// someone who reads the database without the key: login-limit keys,
    /// idempotent requests' fingerprints.
    pub fn keyed_digest(&self, purpose: &str, parts: &[&[u8]]) -> Vec<u8> {
        let mut mac = self.mac();
        mac.update(purpose.as_bytes());
        mac.update(b":");
        for part in parts {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part);
        }
        mac.finalize().into_bytes().to_vec()
    }
}

/// The public, read-only page of a share link's token: the web app's page
/// `/s/<token>` (relative: a client puts its origin in front), which reads
/// the note from `GET /v1/shared/{token}`.
pub fn share_url(token: &str) -> String {
    format!("/s/{token}")
}

/// A fresh refresh token: 256 random bits, URL-safe.
pub fn new_refresh_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The SHA-256 under which a refresh token is stored.
pub fn hash_refresh_token(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer(key: &[u8]) -> TokenSigner {
        TokenSigner::new(Secret::new(key.to_vec()))
    }

    fn claims(exp: i64) -> AccessClaims {
        AccessClaims {
            sub: UserId::new(),
            sid: Uuid::new_v4(),
            exp,
        }
    }

    #[test]
    fn a_signed_token_verifies_until_it_expires() {
        let now = OffsetDateTime::now_utc();
        let c = claims(now.unix_timestamp() + 60);
        let token = signer(b"k").sign(&c);
        assert_eq!(signer(b"k").verify(&token, now), Ok(c));
        assert_eq!(
            signer(b"k").verify(&token, now + time::Duration::seconds(61)),
            Err(TokenError::Expired)
        );
    }

    #[test]
    fn altered_or_foreign_tokens_are_invalid() {
        let now = OffsetDateTime::now_utc();
        let token = signer(b"k").sign(&claims(now.unix_timestamp() + 60));
        assert_eq!(
            signer(b"other").verify(&token, now),
            Err(TokenError::Invalid)
        );
        let forged = signer(b"k").sign(&claims(now.unix_timestamp() + 60));
        let spliced = format!(
            "{}.{}",
            forged.split('.').next().unwrap_or(""),
            token.split('.').nth(1).unwrap_or("")
        );
        assert_eq!(signer(b"k").verify(&spliced, now), Err(TokenError::Invalid));
        assert_eq!(
            signer(b"k").verify("garbage", now),
            Err(TokenError::Invalid)
        );
    }

    #[test]
    fn share_tokens_are_derived_and_checked() {
        let id = Uuid::new_v4();
        let token = signer(b"k").share_token(id);
        assert_eq!(
            token,
            signer(b"k").share_token(id),
            "derived, so it can be shown again"
        );
        assert_eq!(signer(b"k").verify_share_token(&token), Some(id));
        assert_eq!(signer(b"other").verify_share_token(&token), None);
        let mut forged = URL_SAFE_NO_PAD.decode(&token).expect("base64");
        forged[20] ^= 1;
        assert_eq!(
            signer(b"k").verify_share_token(&URL_SAFE_NO_PAD.encode(forged)),
            None
        );
        let short = &URL_SAFE_NO_PAD.decode(&token).expect("base64")[..24];
        assert_eq!(
            signer(b"k").verify_share_token(&URL_SAFE_NO_PAD.encode(short)),
            None
        );
        assert_eq!(signer(b"k").verify_share_token("!!"), None);
    }

    #[test]
    fn keyed_digests_depend_on_the_key_the_purpose_and_the_framing() {
        let digest = signer(b"k").keyed_digest("p", &[b"ab", b"c"]);
        assert_eq!(digest, signer(b"k").keyed_digest("p", &[b"ab", b"c"]));
        assert_ne!(digest, signer(b"other").keyed_digest("p", &[b"ab", b"c"]));
        assert_ne!(digest, signer(b"k").keyed_digest("q", &[b"ab", b"c"]));
        assert_ne!(digest, signer(b"k").keyed_digest("p", &[b"a", b"bc"]));
        assert_ne!(digest, Sha256::digest(b"abc").to_vec());
    }

    #[test]
    fn refresh_tokens_are_random_and_hashed() {
        let (a, b) = (new_refresh_token(), new_refresh_token());
        assert_ne!(a, b);
        assert_eq!(URL_SAFE_NO_PAD.decode(&a).map(|v| v.len()).ok(), Some(32));
        assert_eq!(hash_refresh_token(&a).len(), 32);
        assert_ne!(hash_refresh_token(&a), a.as_bytes());
    }
}
