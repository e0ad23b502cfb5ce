//! The JSON contracts between Moodwing's parts, in one place. The edge API answers with
//! [`Prediction`]s, the web UI turns one into a [`Feedback`], the cloud API answers with a
//! [`Receipt`]; every refusal of either API is an [`ErrorBody`].
//!
//! Only `serde`: this crate builds for the browser (wasm32-unknown-unknown), the edge component
//! (wasm32-wasip2) and native alike. Ids are strings here; each service checks their form.

mod error;
mod feedback;
mod monitor;
mod prediction;

pub use error::{ErrorBody, ErrorDetail};
pub use feedback::{ExportedFeedback, Feedback, Receipt, Refusals, Verdict};
pub use monitor::{
    AlertFired, FeedbackBucket, MonitorSnapshot, NegativeTweet, RadarReceipt, RadarReport,
    RadarWindow, StoredRadarWindow, Suspicion,
};
pub use prediction::{
    BatchPrediction, BatchRequest, Label, ModelId, PredictRequest, Prediction, Scored, Signed,
    widen_score,
};
