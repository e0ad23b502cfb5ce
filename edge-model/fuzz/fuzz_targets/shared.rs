use std::path::Path;
use std::sync::OnceLock;

use moodwing_edge_model::{Bundle, Classifier};

/// The served custom-model bundle, loaded once per fuzzing process.
pub fn classifier() -> &'static Classifier {
    static CLASSIFIER: OnceLock<Classifier> = OnceLock::new();
    CLASSIFIER.get_or_init(|| {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/lstm");
        let bundle = Bundle::from_dir(&dir).expect("the committed bundle loads");
        Classifier::new(&bundle).expect("the committed bundle builds")
    })
}
