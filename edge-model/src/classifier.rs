//! One tweet in, its sentiment out: normalise, tokenise, run the ONNX graph at the real length.

use moodwing_protocol::Label;
use prost::Message;
use serde::Serialize;
use tokenizers::Tokenizer;
use tract_onnx::pb::ModelProto;
use tract_onnx::prelude::*;

use crate::bundle::{Bundle, ModelCard};
use crate::dequantize::{fold_constant_nodes, gather_before_dequantize};
use crate::error::EdgeError;
use crate::normalize::normalize;
use crate::tokenizer_file::read_tokenizer;

/// Longest text accepted, in characters; tweets are at most 280.
pub const MAX_TEXT_CHARS: usize = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Prediction {
    pub label: Label,
    /// Probability that the tweet is positive.
    pub score: f32,
}

/// Refuse what is not a tweet: empty or white space only, or longer than [`MAX_TEXT_CHARS`].
/// Needs no model, so a host can refuse bad input before building one.
pub fn check_text(text: &str) -> Result<(), EdgeError> {
    let chars = text.chars().count();
    if chars > MAX_TEXT_CHARS {
        return Err(EdgeError::TextTooLong {
            chars,
            limit: MAX_TEXT_CHARS,
        });
    }
    if text.trim().is_empty() {
        return Err(EdgeError::EmptyText);
    }
    Ok(())
}

type Plan = std::sync::Arc<TypedSimplePlan>;

pub struct Classifier {
    card: ModelCard,
    tokenizer: Tokenizer,
    plan: Plan,
    unknown_id: u32,
    /// Sequences the graph takes per run: 1, or [`BATCH`].
    rows: usize,
}

/// Tweets per graph run of a classifier built [`Classifier::for_batches`].
pub const BATCH: usize = 16;

impl Classifier {
    /// Load the tokenizer and optimise the graph for one tweet of any length (batch 1, `S` tokens).
    /// Takes the bundle by value so its bytes are freed as soon as they are decoded: the build's peak
    /// memory bounds a pre-initialized component's memory image (wizer copies out at most 128 MiB,
    /// and wasmtime maps an image copy-on-write only when it is small or dense enough).
    pub fn new(bundle: Bundle) -> Result<Self, EdgeError> {
        Self::build(bundle, 1)
    }

    /// The same model for scoring many tweets at once ([`Classifier::predict_many`], the radar):
    /// the graph runs [`BATCH`] tweets of one token length at a time. Same scores as
    /// [`Classifier::new`]'s. (A fixed batch: tract types the exported LSTM's scan with the batch
    /// size its initial states were first given, so a symbolic one is refused.)
    pub fn for_batches(bundle: Bundle) -> Result<Self, EdgeError> {
        Self::build(bundle, BATCH)
    }

    fn build(bundle: Bundle, rows: usize) -> Result<Self, EdgeError> {
        let Bundle {
            card,
            onnx,
            tokenizer,
        } = bundle;
        // The graph first: its peak (bytes, protobuf and tract's copy) is the build's, and the
        // tokenizer's tables would only add to it.
        let plan = optimized_plan(onnx, rows)
            .map_err(|e| EdgeError::bundle("model.onnx", format!("{e:#}")))?;
        let tokenizer = read_tokenizer(&tokenizer)?;
        let unknown_id = tokenizer
            .token_to_id("[UNK]")
            .ok_or_else(|| EdgeError::bundle("tokenizer.json", "no [UNK] token"))?;
        Ok(Self {
            card,
            tokenizer,
            plan,
            unknown_id,
            rows,
        })
    }

    pub fn card(&self) -> &ModelCard {
        &self.card
    }

    /// Check the text, then score it; the label comes from the bundle's decision threshold.
    pub fn predict(&self, text: &str) -> Result<Prediction, EdgeError> {
        check_text(text)?;
        let score = self.score_ids(&self.token_ids(text)?)?;
        Ok(self.labelled(score))
    }

    /// [`Classifier::predict`] for many texts, in their order. Texts of the same token length go
    /// through the graph together (a short batch is filled with copies of its first row, whose
    /// scores are dropped): no padding, so each score is the one `predict` gives.
    pub fn predict_many(&self, texts: &[&str]) -> Vec<Result<Prediction, EdgeError>> {
        let mut results: Vec<Result<Prediction, EdgeError>> = Vec::with_capacity(texts.len());
        let mut by_length: std::collections::BTreeMap<usize, Vec<(usize, Vec<u32>)>> =
            std::collections::BTreeMap::new();
        for (index, text) in texts.iter().enumerate() {
            match check_text(text).and_then(|()| self.token_ids(text)) {
                Ok(ids) => {
                    results.push(Err(EdgeError::Model("not scored".into())));
                    by_length.entry(ids.len()).or_default().push((index, ids));
                }
                Err(error) => results.push(Err(error)),
            }
        }
        for group in by_length.values() {
            for chunk in group.chunks(self.rows) {
                let ids: Vec<&[u32]> = chunk.iter().map(|(_, ids)| ids.as_slice()).collect();
                let scores = self.score_rows(&ids);
                for (position, (index, _)) in chunk.iter().enumerate() {
                    results[*index] = scores
                        .as_ref()
                        .map(|scores| self.labelled(scores[position]))
                        .map_err(EdgeError::clone);
                }
            }
        }
        results
    }

    fn labelled(&self, score: f32) -> Prediction {
        let label = if score >= self.card.threshold {
            Label::Positive
        } else {
            Label::Negative
        };
        Prediction { label, score }
    }

    /// The token ids the model sees for `text`, as `moodwing_training.neural.encode` gives them.
    pub fn token_ids(&self, text: &str) -> Result<Vec<u32>, EdgeError> {
        let encoding = self
            .tokenizer
            .encode(normalize(text).as_str(), true)
            .map_err(|e| EdgeError::Tokenizer(e.to_string()))?;
        let ids = encoding.get_ids();
        Ok(if ids.is_empty() {
            vec![self.unknown_id]
        } else {
            ids.to_vec()
        })
    }

    /// Probability of `positive` for one sequence of token ids.
    pub fn score_ids(&self, ids: &[u32]) -> Result<f32, EdgeError> {
        Ok(self.score_rows(&[ids])?[0])
    }

    /// Probabilities of `positive` for up to `rows` sequences of one length, in one graph run.
    fn score_rows(&self, sequences: &[&[u32]]) -> Result<Vec<f32>, EdgeError> {
        let length = sequences.first().map_or(0, |ids| ids.len());
        if length == 0
            || length > self.card.max_length
            || sequences.len() > self.rows
            || sequences.iter().any(|ids| ids.len() != length)
        {
            return Err(EdgeError::Model(format!(
                "{} sequences of {length} tokens; expected up to {}, of 1 to {} tokens, all alike",
                sequences.len(),
                self.rows,
                self.card.max_length
            )));
        }
        // The graph takes exactly `rows` sequences: the first one fills the rest.
        let ids: Vec<i64> = (0..self.rows)
            .flat_map(|row| sequences.get(row).unwrap_or(&sequences[0]).iter())
            .map(|&id| i64::from(id))
            .collect();
        let input_ids = tensor_of(self.rows, length, ids)?;
        let mask = tensor_of(self.rows, length, vec![1i64; self.rows * length])?;
        let outputs = self
            .plan
            .run(tvec!(input_ids.into(), mask.into()))
            .map_err(|e| EdgeError::Model(format!("{e:#}")))?;
        let probabilities = outputs[0]
            .to_plain_array_view::<f32>()
            .map_err(|e| EdgeError::Model(format!("{e:#}")))?;
        (0..sequences.len())
            .map(|row| {
                probabilities.get([row, 1]).copied().ok_or_else(|| {
                    EdgeError::Model(format!(
                        "output shape {:?}, expected [{}, 2]",
                        probabilities.shape(),
                        self.rows
                    ))
                })
            })
            .collect()
    }
}

fn tensor_of(rows: usize, columns: usize, values: Vec<i64>) -> Result<Tensor, EdgeError> {
    tract_ndarray::Array2::from_shape_vec((rows, columns), values)
        .map(Tensor::from)
        .map_err(|e| EdgeError::Model(e.to_string()))
}

/// The graph for `rows` tweets of `S` tokens each.
fn optimized_plan(onnx: Vec<u8>, rows: usize) -> TractResult<Plan> {
    // Value infos are ignored: tract could not always unify them with the symbolic token length.
    let framework = tract_onnx::onnx().with_ignore_value_info(true);
    let mut proto = ModelProto::decode(onnx.as_slice())?;
    drop(onnx);
    gather_before_dequantize(&mut proto);
    let mut model = framework.model_for_proto_model(&proto)?;
    // The protobuf holds a second copy of every weight; tract has its own now.
    drop(proto);
    let tokens = model.symbols.sym("S");
    for input in 0..2 {
        model.set_input_fact(input, i64::fact([rows.to_dim(), tokens.to_dim()]).into())?;
    }
    let mut typed = model.into_typed()?;
    fold_constant_nodes(&mut typed)?;
    typed.into_optimized()?.into_runnable()
}
