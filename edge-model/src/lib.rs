//! Tweet sentiment inference from a Moodwing model bundle, with no dependency on any host.
//!
//! - [`normalize`]: the text normalisation shared with training (`normalize.py`)
//! - [`bundle`]: the bundle contract (`model.onnx`, `tokenizer.json`, `model.json`), read and verified
//! - [`classifier`]: tokenizer + tract-onnx, one tweet at its real token length
//! - `tokenizer_file`: `tokenizer.json` read straight into the tokenizer's parts (a WordPiece)
//! - `dequantize`: the bundle's int8 weights to fp32 once at load; embedding tables stay int8
//! - [`error`]: what can go wrong, as one enum
//! - [`snapshot_alloc`]: the allocator of runtimes whose built model is copied out of their memory

pub mod bundle;
pub mod classifier;
mod dequantize;
pub mod error;
pub mod normalize;
pub mod snapshot_alloc;
mod tokenizer_file;

pub use bundle::{Bundle, ModelCard};
pub use classifier::{BATCH, Classifier, MAX_TEXT_CHARS, Prediction, check_text};
pub use error::EdgeError;
pub use moodwing_protocol::Label;
pub use normalize::{NORMALIZATION_VERSION, normalize};
