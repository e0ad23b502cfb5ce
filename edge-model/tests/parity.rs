//! The Rust core against the training side: every committed bundle's `golden.jsonl` holds real
//! test tweets with the normalised text, token ids and int8 probability that Python and
//! onnxruntime produced. Any change to a bundle file without regenerating golden fails here.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use moodwing_edge_model::{Bundle, Classifier, EdgeError, normalize};
use serde::Deserialize;
use serde_json::json;

const TOLERANCE: f32 = 1e-3;

#[derive(Deserialize)]
struct Golden {
    text: String,
    normalized: String,
    ids: Vec<u32>,
    p_positive: f32,
    /// The label training gives at the bundle's threshold.
    predicted: String,
}

fn bundles() -> Vec<PathBuf> {
    let models = Path::new(env!("CARGO_MANIFEST_DIR")).join("models");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&models)
        .expect("edge-model/models exists")
        .map(|entry| entry.expect("readable entry").path())
        .filter(|path| path.join("model.json").is_file())
        .collect();
    dirs.sort();
    dirs
}

fn golden(dir: &Path) -> Vec<Golden> {
    let text = std::fs::read_to_string(dir.join("golden.jsonl")).expect("golden.jsonl");
    text.lines()
        .map(|line| serde_json::from_str(line).expect("golden line"))
        .collect()
}

#[test]
fn both_served_models_are_committed() {
    let names: Vec<String> = bundles()
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert!(
        names.contains(&"lstm".to_owned()) && names.contains(&"bert".to_owned()),
        "{names:?}"
    );
}

#[test]
fn rust_agrees_with_python_on_every_golden_tweet() {
    for dir in bundles() {
        let bundle = Bundle::from_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        let classifier =
            Classifier::new(bundle).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        let lines = golden(&dir);
        assert_eq!(lines.len(), 200, "{}", dir.display());
        let mut worst = 0f32;
        for line in &lines {
            assert_eq!(
                normalize(&line.text),
                line.normalized,
                "normalising {:?}",
                line.text
            );
            assert_eq!(
                classifier.token_ids(&line.text).unwrap(),
                line.ids,
                "tokenising {:?}",
                line.text
            );
            let score = classifier.score_ids(&line.ids).unwrap();
            worst = worst.max((score - line.p_positive).abs());
            // A score within the tolerance of the threshold may land on either side.
            if (line.p_positive - classifier.card().threshold).abs() > TOLERANCE {
                let label = serde_json::to_value(classifier.predict(&line.text).unwrap().label);
                assert_eq!(label.unwrap(), line.predicted.as_str(), "{:?}", line.text);
            }
            assert!(
                (score - line.p_positive).abs() < TOLERANCE,
                "{:?}: rust {score}, python {}",
                line.text,
                line.p_positive
            );
        }
        println!(
            "{}: {} tweets, max |rust - onnxruntime| = {worst:.2e}",
            dir.display(),
            lines.len()
        );
    }
}

#[test]
fn batched_scoring_gives_each_tweet_its_own_score() {
    // The BiLSTM, which the radar scores in batches.
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/lstm");
    let single = Classifier::new(Bundle::from_dir(&dir).unwrap()).unwrap();
    let batched = Classifier::for_batches(Bundle::from_dir(&dir).unwrap()).unwrap();
    let lines = golden(&dir);
    let mut texts: Vec<&str> = lines.iter().map(|line| line.text.as_str()).collect();
    texts.push(""); // refused in place, without holding back the others
    let many = batched.predict_many(&texts);
    assert_eq!(many.len(), texts.len());
    assert!(matches!(many[lines.len()], Err(EdgeError::EmptyText)));
    let mut worst = 0f32;
    for (text, result) in texts.iter().zip(&many).take(lines.len()) {
        let alone = single.predict(text).unwrap();
        let together = result.as_ref().unwrap();
        worst = worst.max((alone.score - together.score).abs());
        assert_eq!(alone.label, together.label, "{text:?}");
    }
    assert!(worst < 1e-5, "max |alone - in a batch| = {worst:e}");
}

#[test]
fn predict_refuses_what_is_not_a_tweet() {
    let bundle = Bundle::from_dir(&bundles()[0]).unwrap();
    let classifier = Classifier::new(bundle).unwrap();
    assert!(matches!(classifier.predict(""), Err(EdgeError::EmptyText)));
    assert!(matches!(
        classifier.predict(" \n\t "),
        Err(EdgeError::EmptyText)
    ));
    let long = "a".repeat(1001);
    assert!(matches!(
        classifier.predict(&long),
        Err(EdgeError::TextTooLong {
            chars: 1001,
            limit: 1000
        })
    ));
    // Anything else is scored, including text the tokenizer knows nothing of.
    for text in [
        "@united",
        "http://t.co/x",
        "😡",
        "\u{0}\u{1c}",
        "ok",
        &"é".repeat(1000),
    ] {
        let prediction = classifier.predict(text).unwrap();
        assert!(
            (0.0..=1.0).contains(&prediction.score),
            "{text:?}: {prediction:?}"
        );
    }
}

#[test]
fn digests_a_host_computed_are_checked_against_the_card() {
    let dir = &bundles()[0];
    let json = std::fs::read(dir.join("model.json")).unwrap();
    let onnx = std::fs::read(dir.join("model.onnx")).unwrap();
    let tokenizer = std::fs::read(dir.join("tokenizer.json")).unwrap();
    let card: serde_json::Value = serde_json::from_slice(&json).unwrap();
    let digest = |file: &str| card["sha256"][file].as_str().unwrap().to_owned();
    let given = |onnx_digest: Option<String>, tokenizer_digest: Option<String>| {
        let digests: BTreeMap<String, String> = [
            ("model.onnx", onnx_digest),
            ("tokenizer.json", tokenizer_digest),
        ]
        .into_iter()
        .filter_map(|(file, digest)| Some((file.to_owned(), digest?)))
        .collect();
        Bundle::from_hashed_parts(&json, onnx.clone(), tokenizer.clone(), &digests)
    };
    assert!(given(Some(digest("model.onnx")), Some(digest("tokenizer.json"))).is_ok());
    // WebCrypto's hex is lower case, but a host may well write it in capitals.
    assert!(
        given(
            Some(digest("model.onnx").to_uppercase()),
            Some(digest("tokenizer.json"))
        )
        .is_ok()
    );
    let err = given(Some("00".repeat(32)), Some(digest("tokenizer.json"))).unwrap_err();
    assert_eq!(
        err.to_string(),
        "bundle file model.onnx: sha256 differs from model.json"
    );
    let err = given(Some(digest("model.onnx")), None).unwrap_err();
    assert_eq!(
        err.to_string(),
        "bundle file tokenizer.json: no sha256 given for it"
    );
}

#[test]
fn a_tampered_bundle_is_refused() {
    let dir = &bundles()[0];
    let json = std::fs::read(dir.join("model.json")).unwrap();
    let mut onnx = std::fs::read(dir.join("model.onnx")).unwrap();
    let tokenizer = std::fs::read(dir.join("tokenizer.json")).unwrap();
    let last = onnx.len() - 1;
    onnx[last] ^= 1;
    let err = Bundle::from_parts(&json, onnx, tokenizer.clone()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "bundle file model.onnx: sha256 differs from model.json"
    );

    let card: serde_json::Value = serde_json::from_slice(&json).unwrap();
    let onnx = std::fs::read(dir.join("model.onnx")).unwrap();
    for (field, value, message) in [
        (
            "normalization_version",
            json!(99),
            "normalisation version 99",
        ),
        ("threshold", json!(1.0), "threshold 1 is not a probability"),
        (
            "threshold",
            json!(-0.2),
            "threshold -0.2 is not a probability",
        ),
    ] {
        let mut changed = card.clone();
        changed[field] = value;
        let err = Bundle::from_parts(
            &serde_json::to_vec(&changed).unwrap(),
            onnx.clone(),
            tokenizer.clone(),
        )
        .unwrap_err();
        assert!(err.to_string().contains(message), "{err}");
    }
}
