//! Who may use the operator routes (export, monitor, radar reports): whoever sends the token set
//! in `MOODWING_OPERATOR_TOKEN`.

use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use sha2::{Digest, Sha256};

use crate::ApiError;
use crate::routes::AppState;

/// `Authorization: Bearer <token>`, compared by their SHA-256 so the time taken says nothing of
/// the token. Without a configured token the operator routes are off.
pub fn authorize(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(token) = state.operator_token.as_deref() else {
        return Err(ApiError::OperatorRoutesDisabled);
    };
    let given = headers
        .get(AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .ok_or(ApiError::Unauthorized)?;
    if Sha256::digest(given.trim().as_bytes()) == Sha256::digest(token.as_bytes()) {
        Ok(())
    } else {
        Err(ApiError::Unauthorized)
    }
}
