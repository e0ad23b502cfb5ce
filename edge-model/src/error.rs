use thiserror::Error;

/// Everything the inference core can refuse or fail at.
#[derive(Debug, Clone, Error)]
pub enum EdgeError {
    #[error("the text is empty")]
    EmptyText,
    #[error("the text has {chars} characters, more than the {limit} allowed")]
    TextTooLong { chars: usize, limit: usize },
    #[error("bundle file {file}: {reason}")]
    Bundle { file: &'static str, reason: String },
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    #[error("model: {0}")]
    Model(String),
}

impl EdgeError {
    pub(crate) fn bundle(file: &'static str, reason: impl ToString) -> Self {
        Self::Bundle {
            file,
            reason: reason.to_string(),
        }
    }
}
