//! The Spin HTTP component: the prediction API over one model bundle embedded at build time.
//!
//! Build with `--features lstm` (the default, served under `/api`) or
//! `--no-default-features --features bert` (served under `/api/bert`).

use std::sync::OnceLock;

use futures::StreamExt;
use moodwing_edge_api::{
    ApiError, ApiRequest, ApiResponse, MAX_BODY_BYTES, error_response, handle,
};
use moodwing_edge_model::{Bundle, Classifier};
use spin_sdk::http::{IncomingRequest, Response};
use spin_sdk::http_component;

#[cfg(all(feature = "lstm", not(feature = "bert")))]
mod embedded {
    pub const BASE: &str = "/api";
    pub static MODEL_JSON: &[u8] = include_bytes!("../../models/lstm/model.json");
    pub static MODEL_ONNX: &[u8] = include_bytes!("../../models/lstm/model.onnx");
    pub static TOKENIZER: &[u8] = include_bytes!("../../models/lstm/tokenizer.json");
}

#[cfg(feature = "bert")]
mod embedded {
    pub const BASE: &str = "/api/bert";
    pub static MODEL_JSON: &[u8] = include_bytes!("../../models/bert/model.json");
    pub static MODEL_ONNX: &[u8] = include_bytes!("../../models/bert/model.onnx");
    pub static TOKENIZER: &[u8] = include_bytes!("../../models/bert/tokenizer.json");
}

#[cfg(not(any(feature = "lstm", feature = "bert")))]
compile_error!("enable the `lstm` or the `bert` feature: one bundle must be embedded");

/// Built once per component instance.
fn classifier() -> Result<&'static Classifier, ApiError> {
    static CLASSIFIER: OnceLock<Result<Classifier, String>> = OnceLock::new();
    CLASSIFIER
        .get_or_init(|| {
            let bundle = Bundle::from_parts(
                embedded::MODEL_JSON,
                embedded::MODEL_ONNX.to_vec(),
                embedded::TOKENIZER.to_vec(),
            )
            .map_err(|e| e.to_string())?;
            Classifier::new(&bundle).map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|reason| ApiError::Internal(reason.clone()))
}

#[http_component]
async fn serve(request: IncomingRequest) -> Response {
    let method = request.method().to_string();
    let path_and_query = request.path_with_query().unwrap_or_default();
    let path = path_and_query
        .split('?')
        .next()
        .unwrap_or_default()
        .to_owned();
    let content_type = request
        .headers()
        .get("content-type")
        .first()
        .and_then(|value| String::from_utf8(value.clone()).ok());

    let response = match (read_body(request).await, classifier()) {
        (Err(error), _) | (_, Err(error)) => error_response(&error),
        (Ok(body), Ok(classifier)) => {
            let request = ApiRequest {
                method: &method,
                path: &path,
                content_type: content_type.as_deref(),
                body: &body,
            };
            handle(classifier, embedded::BASE, request)
        }
    };
    into_spin(response)
}

/// The body, read no further than the limit.
async fn read_body(request: IncomingRequest) -> Result<Vec<u8>, ApiError> {
    let mut stream = request.into_body_stream();
    let mut body = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| ApiError::Internal(format!("reading the body: {e:?}")))?;
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(ApiError::PayloadTooLarge {
                limit: MAX_BODY_BYTES,
            });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn into_spin(response: ApiResponse) -> Response {
    let mut builder = Response::builder();
    builder.status(response.status);
    for (name, value) in response.headers {
        builder.header(name, value);
    }
    builder.body(response.body).build()
}
