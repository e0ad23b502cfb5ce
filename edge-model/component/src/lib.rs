//! The Spin HTTP component: the prediction API over one model bundle, whose model is built into
//! the component at build time (pre-initialized, see [`preinit`]).
//!
//! Build with `--features lstm` (the default, served under `/api`) or
//! `--no-default-features --features bert` (served under `/api/bert`).

use std::cell::Cell;
use std::path::Path;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use futures::StreamExt;
use moodwing_edge_api::{
    ApiError, ApiRequest, ApiResponse, MAX_BODY_BYTES, Model, error_response, handle,
};
use moodwing_edge_model::{Bundle, Classifier, ModelCard};
use spin_sdk::http::{IncomingRequest, Response};
use spin_sdk::http_component;

#[cfg(all(feature = "lstm", not(feature = "bert")))]
mod embedded {
    pub const BASE: &str = "/api";
    pub static MODEL_JSON: &[u8] = include_bytes!("../../models/lstm/model.json");
}

#[cfg(feature = "bert")]
mod embedded {
    pub const BASE: &str = "/api/bert";
    pub static MODEL_JSON: &[u8] = include_bytes!("../../models/bert/model.json");
}

#[cfg(not(any(feature = "lstm", feature = "bert")))]
compile_error!("enable the `lstm` or the `bert` feature: one bundle must be embedded");

/// Where pre-initialization finds the bundle's `model.onnx` and `tokenizer.json`
/// (`scripts/build-components.sh` maps the bundle's folder there). They are read into memory that
/// is freed once the model is built, so the component carries the built model and not also the
/// files it came from (20 MB for MiniLM); `model.json` is embedded, and the files must match it.
const BUNDLE_DIR: &str = "/bundle";

/// The embedded bundle, as the API's [`Model`]: the card is parsed on first use (cheap), the
/// classifier is built at pre-initialization. `built_in` says whether this request tried to build
/// it, which only a component that was not pre-initialized does (and fails: it has no files).
#[derive(Default)]
struct Embedded {
    built_in: Cell<Option<Duration>>,
}

impl Model for Embedded {
    fn card(&self) -> Result<&ModelCard, ApiError> {
        static CARD: OnceLock<Result<ModelCard, String>> = OnceLock::new();
        CARD.get_or_init(|| ModelCard::from_json(embedded::MODEL_JSON).map_err(|e| e.to_string()))
            .as_ref()
            .map_err(|reason| ApiError::Internal(reason.clone()))
    }

    fn classifier(&self) -> Result<&Classifier, ApiError> {
        CLASSIFIER
            .get_or_init(|| {
                let started = Instant::now();
                let classifier = read_bundle()
                    .and_then(|bundle| Classifier::new(bundle).map_err(|e| e.to_string()));
                self.built_in.set(Some(started.elapsed()));
                classifier
            })
            .as_ref()
            .map_err(|reason| ApiError::Internal(reason.clone()))
    }
}

/// The model, built by pre-initialization (see [`preinit`]).
static CLASSIFIER: OnceLock<Result<Classifier, String>> = OnceLock::new();

/// The bundle's files, checked against the embedded `model.json`.
fn read_bundle() -> Result<Bundle, String> {
    let read = |file: &str| {
        std::fs::read(Path::new(BUNDLE_DIR).join(file)).map_err(|e| {
            format!(
                "reading {BUNDLE_DIR}/{file}: {e} (the model is built when the component is \
                 pre-initialized: scripts/build-components.sh)"
            )
        })
    };
    Bundle::from_parts(
        embedded::MODEL_JSON,
        read("model.onnx")?,
        read("tokenizer.json")?,
    )
    .map_err(|e| e.to_string())
}

mod preinit;

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

    let model = Embedded::default();
    let mut response = match read_body(request).await {
        Err(error) => error_response(&error),
        Ok(body) => {
            let request = ApiRequest {
                method: &method,
                path: &path,
                content_type: content_type.as_deref(),
                body: &body,
            };
            handle(&model, embedded::BASE, request)
        }
    };
    // Tells a client (and the tests) which requests paid for building the model: none should,
    // once the component is pre-initialized, and never one that is not a valid prediction.
    if let Some(took) = model.built_in.get() {
        let ms = took.as_secs_f64() * 1e3;
        response
            .headers
            .push(("server-timing", format!("model-load;dur={ms:.1}")));
    }
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
