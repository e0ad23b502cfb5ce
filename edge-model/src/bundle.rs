//! The model bundle: the contract between `training/` and this crate.
//!
//! `model.json` describes the model and holds the sha256 of `model.onnx` and `tokenizer.json`;
//! a bundle is only accepted when the hashes, the labels and the normalisation version match.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::EdgeError;
use crate::normalize::NORMALIZATION_VERSION;

pub const LABELS: [&str; 2] = ["negative", "positive"];

/// `model.json`. Fields this crate does not interpret (metrics, provenance) are kept as JSON so
/// they can be served as they are.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModelCard {
    pub name: String,
    pub version: String,
    #[serde(default)]
    pub approach: Option<String>,
    pub labels: Vec<String>,
    pub max_length: usize,
    /// A tweet is positive when its score is at least this (chosen on validation in training).
    pub threshold: f32,
    pub normalization_version: u32,
    pub metrics: serde_json::Value,
    pub mlflow: serde_json::Value,
    pub data: serde_json::Value,
    pub sha256: BTreeMap<String, String>,
}

/// The three files of a bundle, verified against each other.
#[derive(Debug, Clone)]
pub struct Bundle {
    pub card: ModelCard,
    pub onnx: Vec<u8>,
    pub tokenizer: Vec<u8>,
}

impl Bundle {
    /// Read `model.json`, `model.onnx` and `tokenizer.json` from `dir`.
    pub fn from_dir(dir: &Path) -> Result<Self, EdgeError> {
        let read = |file: &'static str| {
            std::fs::read(dir.join(file)).map_err(|e| EdgeError::bundle(file, e))
        };
        Self::from_parts(
            &read("model.json")?,
            read("model.onnx")?,
            read("tokenizer.json")?,
        )
    }

    /// Build a bundle from the files' bytes (as embedded in a component) and verify it.
    pub fn from_parts(
        model_json: &[u8],
        onnx: Vec<u8>,
        tokenizer: Vec<u8>,
    ) -> Result<Self, EdgeError> {
        let sha256 = BTreeMap::from([
            ("model.onnx".to_owned(), sha256_hex(&onnx)),
            ("tokenizer.json".to_owned(), sha256_hex(&tokenizer)),
        ]);
        Self::from_hashed_parts(model_json, onnx, tokenizer, &sha256)
    }

    /// [`Bundle::from_parts`] for a host that hashed these very bytes itself, with faster code than
    /// this crate's WebAssembly (a browser's WebCrypto: hashing here took ~60 ms of the on-device
    /// model's load). `sha256` maps `model.onnx` and `tokenizer.json` to their hex digests, which
    /// must match `model.json` as in `from_parts`.
    pub fn from_hashed_parts(
        model_json: &[u8],
        onnx: Vec<u8>,
        tokenizer: Vec<u8>,
        sha256: &BTreeMap<String, String>,
    ) -> Result<Self, EdgeError> {
        let card = ModelCard::from_json(model_json)?;
        for file in ["model.onnx", "tokenizer.json"] {
            verify_sha256(&card, file, sha256.get(file).map(String::as_str))?;
        }
        Ok(Self {
            card,
            onnx,
            tokenizer,
        })
    }
}

impl ModelCard {
    /// Parse `model.json` and check what this build relies on: the labels, the threshold and the
    /// normalisation version. Cheap: a host can answer from the card without building the model.
    pub fn from_json(model_json: &[u8]) -> Result<Self, EdgeError> {
        let card: ModelCard =
            serde_json::from_slice(model_json).map_err(|e| EdgeError::bundle("model.json", e))?;
        if card.labels != LABELS {
            return Err(EdgeError::bundle(
                "model.json",
                format!("labels must be {LABELS:?}, not {:?}", card.labels),
            ));
        }
        if !(card.threshold > 0.0 && card.threshold < 1.0) {
            return Err(EdgeError::bundle(
                "model.json",
                format!(
                    "threshold {} is not a probability strictly inside (0, 1)",
                    card.threshold
                ),
            ));
        }
        if card.normalization_version != NORMALIZATION_VERSION {
            return Err(EdgeError::bundle(
                "model.json",
                format!(
                    "normalisation version {} but this build implements {NORMALIZATION_VERSION}",
                    card.normalization_version
                ),
            ));
        }
        Ok(card)
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

fn verify_sha256(
    card: &ModelCard,
    file: &'static str,
    actual: Option<&str>,
) -> Result<(), EdgeError> {
    match (card.sha256.get(file), actual) {
        (None, _) => Err(EdgeError::bundle(file, "no sha256 in model.json")),
        (Some(_), None) => Err(EdgeError::bundle(file, "no sha256 given for it")),
        (Some(expected), Some(actual)) if expected.eq_ignore_ascii_case(actual) => Ok(()),
        (Some(_), Some(_)) => Err(EdgeError::bundle(file, "sha256 differs from model.json")),
    }
}
