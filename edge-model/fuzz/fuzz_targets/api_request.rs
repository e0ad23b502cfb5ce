//! Any request (method, path, content type, body bytes): a JSON answer with a 2xx or 4xx status.
#![no_main]

use libfuzzer_sys::fuzz_target;
use moodwing_edge_api::{ApiRequest, handle};

#[path = "shared.rs"]
mod shared;

const METHODS: [&str; 4] = ["POST", "GET", "OPTIONS", "PUT"];
const PATHS: [&str; 6] = [
    "/api/predict",
    "/api/predict/batch",
    "/api/model",
    "/api/health",
    "/api/",
    "/elsewhere",
];
const CONTENT_TYPES: [Option<&str>; 4] = [
    Some("application/json"),
    Some("application/json; charset=utf-8"),
    Some("text/plain"),
    None,
];

fuzz_target!(|data: &[u8]| {
    let [method, path, content_type, body @ ..] = data else {
        return;
    };
    let request = ApiRequest {
        method: METHODS[usize::from(*method) % METHODS.len()],
        path: PATHS[usize::from(*path) % PATHS.len()],
        content_type: CONTENT_TYPES[usize::from(*content_type) % CONTENT_TYPES.len()],
        body,
    };
    let response = handle(shared::classifier(), "/api", request);
    assert!(
        (200..500).contains(&response.status),
        "{} for {request:?}: {}",
        response.status,
        String::from_utf8_lossy(&response.body)
    );
    if !response.body.is_empty() {
        serde_json::from_slice::<serde_json::Value>(&response.body).expect("a JSON body");
    }
});
