use moodwing_edge_model::EdgeError;
use moodwing_protocol::ErrorBody;

/// A refused or failed request, with its HTTP status and a stable code for clients.
#[derive(Debug, Clone, PartialEq)]
pub enum ApiError {
    NotFound,
    MethodNotAllowed { allow: &'static str },
    UnsupportedMediaType,
    PayloadTooLarge { limit: usize },
    InvalidUtf8,
    InvalidJson(String),
    EmptyText,
    TextTooLong { chars: usize, limit: usize },
    BatchSize { count: usize, limit: usize },
    Internal(String),
}

impl ApiError {
    pub fn status(&self) -> u16 {
        match self {
            Self::NotFound => 404,
            Self::MethodNotAllowed { .. } => 405,
            Self::UnsupportedMediaType => 415,
            Self::PayloadTooLarge { .. } => 413,
            Self::InvalidUtf8 | Self::InvalidJson(_) => 400,
            Self::EmptyText | Self::TextTooLong { .. } | Self::BatchSize { .. } => 422,
            Self::Internal(_) => 500,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            Self::NotFound => "not_found",
            Self::MethodNotAllowed { .. } => "method_not_allowed",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::PayloadTooLarge { .. } => "payload_too_large",
            Self::InvalidUtf8 => "invalid_utf8",
            Self::InvalidJson(_) => "invalid_json",
            Self::EmptyText => "empty_text",
            Self::TextTooLong { .. } => "text_too_long",
            Self::BatchSize { .. } => "batch_size",
            Self::Internal(_) => "internal",
        }
    }

    pub fn message(&self) -> String {
        match self {
            Self::NotFound => "no such route".into(),
            Self::MethodNotAllowed { allow } => format!("method not allowed here; use {allow}"),
            Self::UnsupportedMediaType => {
                "the body must be JSON (content-type: application/json)".into()
            }
            Self::PayloadTooLarge { limit } => format!("the body is larger than {limit} bytes"),
            Self::InvalidUtf8 => "the body is not valid UTF-8".into(),
            Self::InvalidJson(reason) => format!("invalid JSON: {reason}"),
            Self::EmptyText => "the text is empty".into(),
            Self::TextTooLong { chars, limit } => {
                format!("the text has {chars} characters; the limit is {limit}")
            }
            Self::BatchSize { count, limit } => {
                format!("{count} texts; send between 1 and {limit}")
            }
            Self::Internal(reason) => format!("internal error: {reason}"),
        }
    }

    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!(ErrorBody::new(self.code(), self.message()))
    }
}

impl From<EdgeError> for ApiError {
    fn from(error: EdgeError) -> Self {
        match error {
            EdgeError::EmptyText => Self::EmptyText,
            EdgeError::TextTooLong { chars, limit } => Self::TextTooLong { chars, limit },
            other => Self::Internal(other.to_string()),
        }
    }
}
