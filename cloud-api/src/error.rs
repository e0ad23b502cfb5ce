use axum::Json;
use axum::http::header::{RETRY_AFTER, WWW_AUTHENTICATE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use moodwing_protocol::ErrorBody;

/// Every refusal or failure of the API, answered as `{"error": {"code", "message", "field"?}}`.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{field} {reason}")]
    Invalid { field: &'static str, reason: String },
    #[error("the body is not valid JSON for this route: {0}")]
    BadJson(String),
    #[error("the content type must be application/json")]
    UnsupportedMediaType,
    #[error("the body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("no such route")]
    NotFound,
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("feedback is accepted only about a signed prediction: send its `signed` part back")]
    SignatureRequired,
    #[error(
        "the signature does not match this prediction: the text, label, score, model or time \
         differ from what the edge service answered"
    )]
    BadSignature,
    #[error(
        "the prediction is older than {max_age_secs} s (or from the future): too late for feedback"
    )]
    PredictionExpired { max_age_secs: u64 },
    #[error("this prediction already has a feedback")]
    AlreadyAnswered,
    #[error("the query is not valid for this route: {0}")]
    BadQuery(String),
    #[error("this route needs the operator token: Authorization: Bearer <token>")]
    Unauthorized,
    #[error("the operator routes are disabled: no MOODWING_OPERATOR_TOKEN is configured")]
    OperatorRoutesDisabled,
    #[error("too many requests; retry in {retry_after_secs} s")]
    RateLimited { retry_after_secs: u64 },
    #[error("the feedback store failed: {0}")]
    Store(#[from] crate::store::StoreError),
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::BadJson(_) | Self::BadQuery(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::OperatorRoutesDisabled => StatusCode::FORBIDDEN,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::SignatureRequired | Self::BadSignature | Self::PredictionExpired { .. } => {
                StatusCode::FORBIDDEN
            }
            Self::AlreadyAnswered => StatusCode::CONFLICT,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            Self::Invalid { .. } => "invalid_field",
            Self::BadJson(_) => "bad_json",
            Self::BadQuery(_) => "bad_query",
            Self::Unauthorized => "unauthorized",
            Self::OperatorRoutesDisabled => "operator_routes_disabled",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::PayloadTooLarge { .. } => "payload_too_large",
            Self::NotFound => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::SignatureRequired => "signature_required",
            Self::BadSignature => "bad_signature",
            Self::PredictionExpired { .. } => "prediction_expired",
            Self::AlreadyAnswered => "already_answered",
            Self::RateLimited { .. } => "rate_limited",
            Self::Store(_) => "store_unavailable",
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let Self::Store(error) = &self {
            tracing::error!(%error, "feedback not stored");
        }
        let mut body = ErrorBody::new(self.code(), self.to_string());
        if let Self::Invalid { field, .. } = &self {
            body.error.field = Some((*field).to_owned());
        }
        let mut response = (self.status(), Json(body)).into_response();
        if let Self::Unauthorized = self {
            response
                .headers_mut()
                .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Self::RateLimited { retry_after_secs } = self {
            response
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from(retry_after_secs));
        }
        response
    }
}
