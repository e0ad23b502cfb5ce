//! The edge core in the browser: the same `moodwing-edge-model` as the Spin component and the
//! radar, compiled to wasm32-unknown-unknown and exposed to JavaScript by wasm-bindgen. The web
//! page's worker (`web-ui/ondevice/worker.js`) fetches a bundle, hands its three files and their
//! sha256 to [`load`] (which checks them against `model.json`) and scores tweets with
//! [`predict`]: no tweet leaves the device.
//!
//! The model lives in this instance's own memory, not behind a JavaScript object: once [`load`]
//! has returned, a copy of the WebAssembly memory *is* the built model. The worker keeps that copy
//! and, at the next page load, writes it into a fresh instance of the same runtime instead of
//! building the model again (~180 ms of a warm load), as wizer pre-initializes the Spin component.

use std::cell::RefCell;
use std::collections::BTreeMap;

use moodwing_edge_model::{Bundle, Classifier, EdgeError};
use moodwing_protocol::{ModelId, Prediction, widen_score};
use wasm_bindgen::prelude::*;

// The browser's runtime only: what links this crate natively keeps its own allocator. What
// building frees is zeroed, and left out of the copy the worker keeps.
#[cfg(target_arch = "wasm32")]
#[global_allocator]
static ALLOCATOR: moodwing_edge_model::snapshot_alloc::ZeroFreedWhileBuilding =
    moodwing_edge_model::snapshot_alloc::ZeroFreedWhileBuilding::new();

thread_local! {
    // wasm32-unknown-unknown has one thread: this is a static in linear memory.
    static MODEL: RefCell<Option<Classifier>> = const { RefCell::new(None) };
}

/// Verify the bundle (the sha256 of `model.onnx` and `tokenizer.json` against `model.json`,
/// labels, normalisation version) and build its graph; it replaces any model loaded before.
/// `sha256_json` is `{"model.onnx": hex, "tokenizer.json": hex}`, hashed by the caller
/// (WebCrypto, native code) over the bytes it passes.
#[wasm_bindgen]
pub fn load(
    model_json: &[u8],
    model_onnx: Vec<u8>,
    tokenizer_json: Vec<u8>,
    sha256_json: &str,
) -> Result<(), JsError> {
    zeroing_frees(|| {
        let sha256: BTreeMap<String, String> =
            serde_json::from_str(sha256_json).map_err(|e| JsError::new(&format!("sha256: {e}")))?;
        let bundle = Bundle::from_hashed_parts(model_json, model_onnx, tokenizer_json, &sha256)
            .map_err(js)?;
        let classifier = Classifier::new(bundle).map_err(js)?;
        MODEL.set(Some(classifier));
        Ok(())
    })
}

/// The prediction of `text` as the edge API's JSON (`latency_ms` 0: the caller times it, and
/// no signature: only the edge service holds the key), or an error for an empty or too long text,
/// or when no model is loaded.
#[wasm_bindgen]
pub fn predict(text: &str) -> Result<String, JsError> {
    MODEL.with_borrow(|model| {
        let classifier = model
            .as_ref()
            .ok_or_else(|| JsError::new("no model loaded"))?;
        let prediction = classifier.predict(text).map_err(js)?;
        let card = classifier.card();
        let answer = Prediction {
            label: prediction.label,
            score: widen_score(prediction.score),
            threshold: widen_score(card.threshold),
            model: ModelId {
                name: card.name.clone(),
                version: card.version.clone(),
            },
            latency_ms: 0.0,
            signed: None,
        };
        serde_json::to_string(&answer).map_err(|e| JsError::new(&e.to_string()))
    })
}

/// Run `build` with what it frees zeroed (in the browser's runtime).
fn zeroing_frees<T>(build: impl FnOnce() -> T) -> T {
    #[cfg(target_arch = "wasm32")]
    return ALLOCATOR.while_building(build);
    #[cfg(not(target_arch = "wasm32"))]
    build()
}

fn js(error: EdgeError) -> JsError {
    JsError::new(&error.to_string())
}
