//! The prediction API, independent of any HTTP host: a request in, a response out.
//!
//! | route | does |
//! |---|---|
//! | `POST {base}/predict` `{"text": "..."}` | one prediction |
//! | `POST {base}/predict/batch` `{"texts": [...]}` | up to [`MAX_BATCH`] predictions |
//! | `GET {base}/model` | the bundle's metadata and metrics |
//! | `GET {base}/health` | liveness, with the model's name and version |
//! | `OPTIONS {base}/...` | CORS pre-flight |
//!
//! Bodies are the `moodwing-protocol` types. Every response is JSON and carries CORS headers; every
//! refusal is a 4xx with `{"error": {"code": "...", "message": "..."}}`. Only `predict` routes touch
//! the classifier (see [`Model`]) and the signing key (see [`Signing`]), and only once the request
//! is known to be valid.

mod error;
mod routes;

pub use error::ApiError;
pub use routes::{MAX_BATCH, MAX_BODY_BYTES, error_response, handle};

use moodwing_edge_model::{Classifier, ModelCard};
pub use moodwing_signature::SigningKey;

/// The model behind the routes. Only predictions need the classifier; health, model info, CORS
/// pre-flights and every refusal are answered from the card, so a host that builds the
/// classifier lazily (a fresh instance per request) builds it only for a prediction.
pub trait Model {
    fn card(&self) -> Result<&ModelCard, ApiError>;
    fn classifier(&self) -> Result<&Classifier, ApiError>;
}

impl Model for Classifier {
    fn card(&self) -> Result<&ModelCard, ApiError> {
        Ok(Classifier::card(self))
    }

    fn classifier(&self) -> Result<&Classifier, ApiError> {
        Ok(self)
    }
}

/// What the host gives to sign predictions: the key, a secret of its configuration (asked once per
/// valid prediction request; `None` means this deployment does not sign), and randomness for the
/// prediction ids.
pub trait Signing {
    fn signing_key(&self) -> Result<Option<SigningKey>, ApiError>;
    /// 16 bytes from the host's cryptographically secure random source.
    fn random_bytes(&self) -> [u8; 16];
}

/// A host that does not sign (the cloud API refuses feedback on its predictions unless it is set
/// up for local development).
pub struct Unsigned;

impl Signing for Unsigned {
    fn signing_key(&self) -> Result<Option<SigningKey>, ApiError> {
        Ok(None)
    }

    fn random_bytes(&self) -> [u8; 16] {
        [0; 16]
    }
}

/// What the API needs of a request; the host adapter fills it.
#[derive(Debug, Clone, Copy)]
pub struct ApiRequest<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub content_type: Option<&'a str>,
    pub body: &'a [u8],
}

/// What the host adapter sends back.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiResponse {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}
