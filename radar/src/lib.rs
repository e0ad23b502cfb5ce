//! The bad-buzz radar: a stream of tweets about the customer in, per-window counts out, and a
//! flag on the windows whose negative volume or share jumps well above their recent baseline.
//!
//! - [`input`]: tweets as NDJSON or CSV (`id`, `time`, `text`)
//! - [`score`]: every tweet through the edge core (the served BiLSTM), on every core
//! - [`window`]: counts per time window, with the most negative tweets of each
//! - [`detect`]: the rule (a robust z-score against the windows before)
//! - [`report`]: the windows and suspicions, sent to the cloud API (monitor page, App Insights)

pub mod detect;
pub mod input;
pub mod report;
pub mod score;
pub mod window;

pub use detect::{Rule, Suspicion, detect};
pub use input::{InputError, Tweet, read_tweets};
pub use report::{ReportError, report, send};
pub use score::{Scored, score_all};
pub use window::{Window, windows};
