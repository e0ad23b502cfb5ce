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
}

impl Classifier {
    /// Load the tokenizer and optimise the graph for one tweet of any length (batch 1, `S` tokens).
    /// Takes the bundle by value so its bytes are freed as soon as they are decoded: the build's peak
    /// memory bounds a pre-initialized component's memory image (wizer copies out at most 128 MiB,
    /// and wasmtime maps an image copy-on-write only when it is small or dense enough).
    pub fn new(bundle: Bundle) -> Result<Self, EdgeError> {
        let Bundle {
            card,
            onnx,
            tokenizer,
        } = bundle;
        // The graph first: its peak (bytes, protobuf and tract's copy) is the build's, and the
        // tokenizer's tables would only add to it.
        let plan =
            optimized_plan(onnx).map_err(|e| EdgeError::bundle("model.onnx", format!("{e:#}")))?;
        let tokenizer =
            Tokenizer::from_bytes(tokenizer).map_err(|e| EdgeError::bundle("tokenizer.json", e))?;
        let unknown_id = tokenizer
            .token_to_id("[UNK]")
            .ok_or_else(|| EdgeError::bundle("tokenizer.json", "no [UNK] token"))?;
        Ok(Self {
            card,
            tokenizer,
            plan,
            unknown_id,
        })
    }

    pub fn card(&self) -> &ModelCard {
        &self.card
    }

    /// Check the text, then score it; the label comes from the bundle's decision threshold.
    pub fn predict(&self, text: &str) -> Result<Prediction, EdgeError> {
        check_text(text)?;
        let score = self.score_ids(&self.token_ids(text)?)?;
        let label = if score >= self.card.threshold {
            Label::Positive
        } else {
            Label::Negative
        };
        Ok(Prediction { label, score })
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
        if ids.is_empty() || ids.len() > self.card.max_length {
            return Err(EdgeError::Model(format!(
                "{} tokens, expected 1 to {}",
                ids.len(),
                self.card.max_length
            )));
        }
        let input_ids = tensor_of(ids.iter().map(|&id| i64::from(id)).collect())?;
        let mask = tensor_of(vec![1i64; ids.len()])?;
        let outputs = self
            .plan
            .run(tvec!(input_ids.into(), mask.into()))
            .map_err(|e| EdgeError::Model(format!("{e:#}")))?;
        let probabilities = outputs[0]
            .to_plain_array_view::<f32>()
            .map_err(|e| EdgeError::Model(format!("{e:#}")))?;
        probabilities.get([0, 1]).copied().ok_or_else(|| {
            EdgeError::Model(format!(
                "output shape {:?}, expected [1, 2]",
                probabilities.shape()
            ))
        })
    }
}

fn tensor_of(values: Vec<i64>) -> Result<Tensor, EdgeError> {
    let len = values.len();
    tract_ndarray::Array2::from_shape_vec((1, len), values)
        .map(Tensor::from)
        .map_err(|e| EdgeError::Model(e.to_string()))
}

fn optimized_plan(onnx: Vec<u8>) -> TractResult<Plan> {
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
        model.set_input_fact(input, i64::fact([1.to_dim(), tokens.to_dim()]).into())?;
    }
    let mut typed = model.into_typed()?;
    fold_constant_nodes(&mut typed)?;
    typed.into_optimized()?.into_runnable()
}
