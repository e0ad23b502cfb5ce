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
    ApiError, ApiRequest, ApiResponse, MAX_BODY_BYTES, Model, Signing, SigningKey, error_response,
    handle,
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

/// The host's configuration key of the secret that signs predictions: Spin's application variable
/// `signing_key` (`spin.toml`), which Spin hands to components through `wasi:config/store`.
const SIGNING_KEY: &str = "signing_key";

// The component reads its configuration through `wasi:config/store` at the version wasmtime 48
// provides (so that `wasmtime wizer` can link it); `scripts/build-components.sh` plugs in
// `edge-model/config-bridge` to give the deployed component the version Spin provides.
wit_bindgen::generate!({
    inline: "
        package moodwing:edge;
        world config { import wasi:config/store@0.2.0-rc.1; }
        package wasi:config@0.2.0-rc.1 {
            interface store {
                variant error { upstream(string), io(string) }
                get: func(key: string) -> result<option<string>, error>;
                get-all: func() -> result<list<tuple<string, string>>, error>;
            }
        }
    ",
    world: "config",
    generate_all,
});

/// The signing key, read from the host's configuration for each request that needs it: never at
/// pre-initialization, so no key is ever part of the component's snapshot.
struct HostConfig;

impl Signing for HostConfig {
    fn signing_key(&self) -> Result<Option<SigningKey>, ApiError> {
        match wasi::config::store::get(SIGNING_KEY) {
            Ok(Some(secret)) if !secret.trim().is_empty() => SigningKey::new(&secret)
                .map(Some)
                .map_err(|e| ApiError::Internal(format!("the {SIGNING_KEY} variable: {e}"))),
            Ok(_) => Ok(None),
            Err(error) => Err(ApiError::Internal(format!(
                "reading the {SIGNING_KEY} variable: {error:?}"
            ))),
        }
    }

    fn random_bytes(&self) -> [u8; 16] {
        let mut bytes = [0; 16];
        bytes.copy_from_slice(&::wasi::random::random::get_random_bytes(16));
        bytes
    }
}

/// getrandom's source (`.cargo/config.toml` selects this backend for wasm32-wasip2).
///
/// # Safety
/// getrandom calls it with a valid, writable `dest` of `len` bytes.
#[unsafe(no_mangle)]
unsafe extern "Rust" fn __getrandom_v03_custom(
    dest: *mut u8,
    len: usize,
) -> Result<(), getrandom::Error> {
    let bytes = ::wasi::random::random::get_random_bytes(len as u64);
    // SAFETY: the caller gives `len` writable bytes at `dest`; wasi:random returned `len` bytes.
    unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), dest, len.min(bytes.len())) };
    Ok(())
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
            handle(&model, &HostConfig, embedded::BASE, request)
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
