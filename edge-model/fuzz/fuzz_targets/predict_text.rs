//! Any text: a prediction with a probability, or a refusal of the text itself; never a panic,
//! never a tokenizer or model failure.
#![no_main]

use libfuzzer_sys::fuzz_target;
use moodwing_edge_model::EdgeError;

#[path = "shared.rs"]
mod shared;

fuzz_target!(|text: &str| {
    match shared::classifier().predict(text) {
        Ok(prediction) => assert!(
            (0.0..=1.0).contains(&prediction.score),
            "score {} for {text:?}",
            prediction.score
        ),
        Err(EdgeError::EmptyText | EdgeError::TextTooLong { .. }) => {}
        Err(other) => panic!("{other} for {text:?}"),
    }
});
