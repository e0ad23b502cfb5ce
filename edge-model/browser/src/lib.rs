//! The edge core in the browser: the same `moodwing-edge-model` as the Spin component and the
//! radar, compiled to wasm32-unknown-unknown and exposed to JavaScript by wasm-bindgen. The web
//! page's worker (`web-ui/ondevice/worker.js`) fetches a bundle, hands its three files and their
//! sha256 to [`OnDevice::new`] (which checks them against `model.json`) and scores tweets
//! with [`OnDevice::predict`]: no tweet leaves the device.

use std::collections::BTreeMap;

use moodwing_edge_model::{Bundle, Classifier, EdgeError};
use moodwing_protocol::{ModelId, Prediction, widen_score};
use wasm_bindgen::prelude::*;

/// A bundle's model, built once, scoring one tweet at a time.
#[wasm_bindgen]
pub struct OnDevice {
    classifier: Classifier,
}

#[wasm_bindgen]
impl OnDevice {
    /// Verify the bundle (the sha256 of `model.onnx` and `tokenizer.json` against `model.json`,
    /// labels, normalisation version) and build its graph. `sha256_json` is
    /// `{"model.onnx": hex, "tokenizer.json": hex}`, hashed by the caller (WebCrypto, native code)
    /// over the bytes it passes.
    #[wasm_bindgen(constructor)]
    pub fn new(
        model_json: &[u8],
        model_onnx: Vec<u8>,
        tokenizer_json: Vec<u8>,
        sha256_json: &str,
    ) -> Result<OnDevice, JsError> {
        let sha256: BTreeMap<String, String> =
            serde_json::from_str(sha256_json).map_err(|e| JsError::new(&format!("sha256: {e}")))?;
        let bundle = Bundle::from_hashed_parts(model_json, model_onnx, tokenizer_json, &sha256)
            .map_err(js)?;
        Ok(Self {
            classifier: Classifier::new(bundle).map_err(js)?,
        })
    }

    /// The prediction of `text` as the edge API's JSON (`latency_ms` 0: the caller times it, and
    /// no signature: only the edge service holds the key), or an error for an empty or too long text.
    pub fn predict(&self, text: &str) -> Result<String, JsError> {
        let prediction = self.classifier.predict(text).map_err(js)?;
        let card = self.classifier.card();
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
    }
}

fn js(error: EdgeError) -> JsError {
    JsError::new(&error.to_string())
}
