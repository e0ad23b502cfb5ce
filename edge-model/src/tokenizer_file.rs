//! `tokenizer.json` read into a [`Tokenizer`], straight into its parts when its model is a
//! WordPiece (both bundles').
//!
//! `Tokenizer::from_bytes` reads the model through two copies of the whole vocabulary (serde's
//! buffer of an untagged enum, then a `serde_json::Value`) before the model's own table: ~3x the
//! time of reading the table directly, and the largest part of building the on-device model in a
//! browser's first visit. This reader assembles the parts as the library's own reader does (same
//! builder, the added tokens added last); a file whose model is not a WordPiece, or that it cannot
//! read, goes to `from_bytes`, which then names what is wrong.

use serde::Deserialize;
use tokenizers::models::wordpiece::WordPiece;
use tokenizers::{
    AddedToken, DecoderWrapper, ModelWrapper, NormalizerWrapper, PaddingParams,
    PostProcessorWrapper, PreTokenizerWrapper, Tokenizer, TokenizerBuilder, TruncationParams,
};

use crate::error::EdgeError;

/// The library's tokenizer file format "1.0", with a WordPiece model. An added token's `id` is left
/// unread: the library only compares it with the vocabulary's, for a warning, and then adds the
/// token as we do.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WordPieceTokenizerFile {
    version: String,
    truncation: Option<TruncationParams>,
    padding: Option<PaddingParams>,
    added_tokens: Vec<AddedToken>,
    normalizer: Option<NormalizerWrapper>,
    pre_tokenizer: Option<PreTokenizerWrapper>,
    model: WordPiece,
    decoder: Option<DecoderWrapper>,
    post_processor: Option<PostProcessorWrapper>,
}

/// The tokenizer of `tokenizer.json`'s bytes.
pub fn read_tokenizer(bytes: &[u8]) -> Result<Tokenizer, EdgeError> {
    match read_word_piece(bytes) {
        Some(tokenizer) => Ok(tokenizer),
        None => Tokenizer::from_bytes(bytes).map_err(|e| EdgeError::bundle("tokenizer.json", e)),
    }
}

fn read_word_piece(bytes: &[u8]) -> Option<Tokenizer> {
    let file: WordPieceTokenizerFile = serde_json::from_slice(bytes).ok()?;
    if file.version != "1.0" {
        return None;
    }
    let mut tokenizer = TokenizerBuilder::new()
        .with_model(ModelWrapper::WordPiece(file.model))
        .with_normalizer(file.normalizer)
        .with_pre_tokenizer(file.pre_tokenizer)
        .with_post_processor(file.post_processor)
        .with_decoder(file.decoder)
        .with_truncation(file.truncation)
        .with_padding(file.padding)
        .build()
        .ok()?;
    tokenizer.add_tokens(file.added_tokens).ok()?;
    Some(tokenizer.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bundle_file(bundle: &str) -> Vec<u8> {
        let path = format!(
            "{}/models/{bundle}/tokenizer.json",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    /// The library's tokenizer and ours, read from the same bytes.
    fn library_and_ours(bytes: &[u8]) -> (Tokenizer, Tokenizer) {
        let library = Tokenizer::from_bytes(bytes).expect("the library reads it");
        let ours = read_tokenizer(bytes).expect("we read it");
        (library, ours)
    }

    fn json(tokenizer: &Tokenizer) -> String {
        tokenizer.to_string(false).expect("serialise")
    }

    #[test]
    fn both_bundles_are_read_directly_into_the_library_s_tokenizer() {
        for bundle in ["lstm", "bert"] {
            let bytes = bundle_file(bundle);
            assert!(
                read_word_piece(&bytes).is_some(),
                "{bundle}: not read directly"
            );
            let (library, ours) = library_and_ours(&bytes);
            assert_eq!(json(&library), json(&ours), "{bundle}");
            for text in [
                "@united thanks!! best crew ✈️ 😍",
                "worst. delay. EVER #fail",
                "naïve café",
            ] {
                let ids = |t: &Tokenizer| t.encode(text, true).unwrap().get_ids().to_vec();
                assert_eq!(ids(&library), ids(&ours), "{bundle}: {text}");
            }
        }
    }

    #[test]
    fn another_model_or_a_changed_file_goes_to_the_library_s_reader() {
        let lstm = String::from_utf8(bundle_file("lstm")).unwrap();
        // A WordLevel model over the same vocabulary: the library reads it, we hand it over.
        let word_level = lstm.replacen(
            r#""type":"WordPiece","unk_token""#,
            r#""type":"WordLevel","unk_token""#,
            1,
        );
        assert_ne!(word_level, lstm);
        assert!(read_word_piece(word_level.as_bytes()).is_none());
        let (library, ours) = library_and_ours(word_level.as_bytes());
        assert_eq!(json(&library), json(&ours));
        // A key the format does not have: refused by the library's reader (it does not skip an
        // unknown key's value), so by ours.
        let extra = lstm.replacen('{', r#"{"future_key":1,"#, 1);
        assert!(read_word_piece(extra.as_bytes()).is_none());
        assert!(Tokenizer::from_bytes(extra.as_bytes()).is_err());
        assert!(read_tokenizer(extra.as_bytes()).is_err());
        // Not a tokenizer file: the library's error.
        let error = read_tokenizer(b"{\"version\": \"1.0\"").unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("bundle file tokenizer.json: "),
            "{error}"
        );
    }
}
