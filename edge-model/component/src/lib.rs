//! The Spin HTTP component: the prediction API over one model bundle embedded at build time.
//!
//! Build with `--features lstm` (the default, served under `/api`) or
//! `--no-default-features --features bert` (served under `/api/bert`).

use std::cell::Cell;
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

/// The embedded bundle, as the API's [`Model`]: the card is parsed on first use (cheap), the
/// classifier is built only when a prediction needs it, once per component instance (or at build
/// time, for a pre-initialized component). `built_in` says whether this request built it.
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
        static CLASSIFIER: OnceLock<Result<Classifier, String>> = OnceLock::new();
        CLASSIFIER
            .get_or_init(|| {
                let started = Instant::now();
                let bundle = Bundle::from_parts(
                    embedded::MODEL_JSON,
                    embedded::MODEL_ONNX.to_vec(),
                    embedded::TOKENIZER.to_vec(),
                )
                .map_err(|e| e.to_string())?;
                let classifier = Classifier::new(&bundle).map_err(|e| e.to_string());
                self.built_in.set(Some(started.elapsed()));
                classifier
            })
            .as_ref()
            .map_err(|reason| ApiError::Internal(reason.clone()))
    }
}

/// `wasmtime wizer` calls this export once at build time and snapshots the memory it leaves, so
/// every instance starts with the model already built and used once. Without pre-initialization
/// the first request of each instance builds it instead.
mod preinit {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::sync::atomic::{AtomicBool, Ordering};

    /// While the model is built for the snapshot, freed memory is zeroed: wizer stores only the
    /// non-zero bytes, so the parser's and optimizer's garbage stays out of the component.
    struct ZeroFreedWhileInitializing;

    static INITIALIZING: AtomicBool = AtomicBool::new(false);

    #[global_allocator]
    static ALLOCATOR: ZeroFreedWhileInitializing = ZeroFreedWhileInitializing;

    // SAFETY: every call is forwarded to `System`; `dealloc` only writes inside the block it frees.
    unsafe impl GlobalAlloc for ZeroFreedWhileInitializing {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            unsafe { System.alloc(layout) }
        }

        unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
            unsafe { System.alloc_zeroed(layout) }
        }

        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            if INITIALIZING.load(Ordering::Relaxed) {
                unsafe { ptr.write_bytes(0, layout.size()) };
                // Without this the optimizer drops the stores to memory that is freed next.
                std::hint::black_box(ptr);
            }
            unsafe { System.dealloc(ptr, layout) }
        }

        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            if !INITIALIZING.load(Ordering::Relaxed) {
                return unsafe { System.realloc(ptr, layout, new_size) };
            }
            // Move instead of resizing in place, so the old block goes through `dealloc`.
            let Ok(new_layout) = Layout::from_size_align(new_size, layout.align()) else {
                return std::ptr::null_mut();
            };
            let new_ptr = unsafe { System.alloc(new_layout) };
            if !new_ptr.is_null() {
                unsafe {
                    std::ptr::copy_nonoverlapping(ptr, new_ptr, layout.size().min(new_size));
                    self.dealloc(ptr, layout);
                }
            }
            new_ptr
        }
    }

    wit_bindgen::generate!({
        inline: "package moodwing:preinit; world preinit { export wizer-initialize: func(); }",
        world: "preinit",
    });

    struct Preinit;

    impl Guest for Preinit {
        fn wizer_initialize() {
            // A failure here is kept in the snapshot and answered as a 500 by every request.
            INITIALIZING.store(true, Ordering::Relaxed);
            if let Ok(classifier) = super::Model::classifier(&super::Embedded::default()) {
                // One prediction, so what is built lazily on first use (the normalisation
                // regexes, first-run state) is in the snapshot too: it cost each fresh instance
                // ~0.7 ms.
                let _ = classifier.predict("warm up");
            }
            INITIALIZING.store(false, Ordering::Relaxed);
        }
    }

    export!(Preinit);
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
