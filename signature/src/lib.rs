//! The signature of a prediction: the edge service signs what it answered, the cloud API accepts
//! feedback only about a prediction the edge service really made, unchanged.
//!
//! The MAC is HMAC-SHA256 over [`message`]: a version tag, the prediction id (a uuid; the
//! cloud API checks its form), the SHA-256 of the text exactly as sent (not of its normalised form, which maps many tweets to one: a signature
//! over it would let a client swap the @mention or the link of a stored tweet), the label, the
//! score's shortest round-trip decimal, the model's name and version, and the time.

use hmac::{Hmac, Mac};
use moodwing_protocol::{Label, ModelId, Signed};
use sha2::{Digest, Sha256};

/// Shortest key accepted, in bytes: HMAC-SHA256 is only as strong as a 256-bit key.
pub const MIN_KEY_BYTES: usize = 32;
const VERSION: &str = "moodwing-prediction-v1";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("a signing key must have at least {MIN_KEY_BYTES} bytes; this one has {0}")]
    ShortKey(usize),
    #[error("the signature is not {} hex digits", 2 * 32)]
    Malformed,
    #[error("the signature does not match this prediction under any accepted key")]
    Mismatch,
}

/// A secret shared by the edge service and the cloud API (its UTF-8 bytes are the HMAC key).
#[derive(Clone)]
pub struct SigningKey(Vec<u8>);

impl SigningKey {
    pub fn new(secret: &str) -> Result<Self, SignatureError> {
        let bytes = secret.trim().as_bytes();
        if bytes.len() < MIN_KEY_BYTES {
            return Err(SignatureError::ShortKey(bytes.len()));
        }
        Ok(Self(bytes.to_vec()))
    }

    fn mac(&self, claims: &Claims<'_>) -> Hmac<Sha256> {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes a key of any length");
        mac.update(&message(claims));
        mac
    }
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey(<secret>)")
    }
}

/// What a signature vouches for.
#[derive(Debug, Clone, Copy)]
pub struct Claims<'a> {
    pub prediction_id: &'a str,
    pub text: &'a str,
    pub label: Label,
    pub score: f64,
    pub model: &'a ModelId,
    pub issued_at_ms: i64,
}

/// The signed bytes, one field per line: the text as its SHA-256 and the model's name and version
/// prefixed by their length, so that no field can be shifted into another.
pub fn message(claims: &Claims<'_>) -> Vec<u8> {
    let text_sha256 = hex(&Sha256::digest(claims.text.as_bytes()));
    let (name, version) = (&claims.model.name, &claims.model.version);
    format!(
        "{VERSION}\n{}\n{text_sha256}\n{}\n{:?}\n{}:{name}\n{}:{version}\n{}",
        claims.prediction_id,
        claims.label.as_str(),
        claims.score,
        name.len(),
        version.len(),
        claims.issued_at_ms,
    )
    .into_bytes()
}

/// The [`Signed`] part of a prediction's answer.
pub fn sign(key: &SigningKey, claims: &Claims<'_>) -> Signed {
    Signed {
        prediction_id: claims.prediction_id.to_owned(),
        issued_at_ms: claims.issued_at_ms,
        signature: hex(&key.mac(claims).finalize().into_bytes()),
    }
}

/// Whether `signature` is the MAC of `claims` under one of `keys` (the current key and, during a
/// rotation, the previous one). Compared in constant time.
pub fn verify(
    keys: &[SigningKey],
    claims: &Claims<'_>,
    signature: &str,
) -> Result<(), SignatureError> {
    let tag = unhex(signature).ok_or(SignatureError::Malformed)?;
    if keys
        .iter()
        .any(|key| key.mac(claims).verify_slice(&tag).is_ok())
    {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<[u8; 32]> {
    if text.len() != 64 || !text.is_ascii() {
        return None;
    }
    let mut tag = [0u8; 32];
    for (byte, pair) in tag.iter_mut().zip(text.as_bytes().chunks(2)) {
        *byte = u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok()?;
    }
    Some(tag)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(seed: char) -> SigningKey {
        SigningKey::new(&seed.to_string().repeat(MIN_KEY_BYTES)).unwrap()
    }

    fn model() -> ModelId {
        ModelId {
            name: "moodwing-lstm".into(),
            version: "3".into(),
        }
    }

    fn claims(model: &ModelId) -> Claims<'_> {
        Claims {
            prediction_id: "6f1c2d0e-8a44-4c59-9d0b-3d8f0a6f2b11",
            text: "@airparadis two hours on the tarmac",
            label: Label::Negative,
            score: 0.0625,
            model,
            issued_at_ms: 1_764_000_000_000,
        }
    }

    #[test]
    fn a_signature_verifies_under_its_key_and_a_rotation_keeps_it_valid() {
        let model = model();
        let signed = sign(&key('a'), &claims(&model));
        assert_eq!(signed.signature.len(), 64);
        verify(&[key('a')], &claims(&model), &signed.signature).unwrap();
        verify(&[key('b'), key('a')], &claims(&model), &signed.signature).unwrap();
        assert_eq!(
            verify(&[key('b')], &claims(&model), &signed.signature),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn changing_any_claim_breaks_the_signature() {
        let model = model();
        let signature = sign(&key('a'), &claims(&model)).signature;
        let other_model = ModelId {
            name: "moodwing-bert".into(),
            version: "3".into(),
        };
        let newer = ModelId {
            name: "moodwing-lstm".into(),
            version: "4".into(),
        };
        let base = claims(&model);
        let tampered = [
            Claims {
                prediction_id: "6f1c2d0e-8a44-4c59-9d0b-3d8f0a6f2b12",
                ..base
            },
            Claims {
                text: "@airparadis two hours on the tarmac ",
                ..base
            },
            Claims {
                label: Label::Positive,
                ..base
            },
            Claims {
                score: 0.0626,
                ..base
            },
            Claims {
                model: &other_model,
                ..base
            },
            Claims {
                model: &newer,
                ..base
            },
            Claims {
                issued_at_ms: base.issued_at_ms + 1,
                ..base
            },
        ];
        for claims in tampered {
            assert_eq!(
                verify(&[key('a')], &claims, &signature),
                Err(SignatureError::Mismatch),
                "{claims:?}"
            );
        }
    }

    #[test]
    fn malformed_signatures_and_short_keys_are_refused() {
        let model = model();
        for bad in ["", "zz", &"g".repeat(64), &"é".repeat(32)] {
            assert_eq!(
                verify(&[key('a')], &claims(&model), bad),
                Err(SignatureError::Malformed)
            );
        }
        assert_eq!(
            SigningKey::new("short").unwrap_err(),
            SignatureError::ShortKey(5)
        );
    }
}
