//! What the operator sees: the radar's reports ([`RadarReport`], posted by `moodwing radar`) and
//! the monitor page's snapshot ([`MonitorSnapshot`], from `GET /api/monitor`).

use serde::{Deserialize, Serialize};

use crate::{ExportedFeedback, ModelId};

/// One run of the radar over a stream of tweets: every window it counted, oldest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RadarReport {
    /// Which stream this is (e.g. `air-paradis-mentions`); a window is kept once per source and
    /// start, a later report replacing it.
    pub source: String,
    pub window_secs: u64,
    pub windows: Vec<RadarWindow>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RadarWindow {
    /// Unix milliseconds.
    pub start_ms: i64,
    pub tweets: u64,
    pub negatives: u64,
    /// Present when the window was flagged as a bad-buzz suspicion.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspicion: Option<Suspicion>,
}

/// Why a window was flagged, and what people were saying in it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Suspicion {
    /// Robust z-scores of the window's negative volume and share against its baseline.
    pub z_volume: f64,
    pub z_share: f64,
    /// The rule that flagged it, in words (e.g. `z >= 4 over 8 windows, >= 10 negatives`).
    pub rule: String,
    pub most_negative: Vec<NegativeTweet>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NegativeTweet {
    pub id: String,
    pub text: String,
    /// The model's score (probability of positive): low is very negative.
    pub score: f64,
}

/// What the cloud API did with a [`RadarReport`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RadarReceipt {
    pub windows: u64,
    /// Suspicions not known before this report: each becomes one `bad_buzz_suspected` event.
    pub new_suspicions: u64,
}

/// A radar window as the cloud API keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredRadarWindow {
    pub source: String,
    pub window_secs: u64,
    #[serde(flatten)]
    pub window: RadarWindow,
}

/// Validations and rejections of one model version in one time bucket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeedbackBucket {
    /// Unix milliseconds.
    pub start_ms: i64,
    pub model: ModelId,
    pub validations: u64,
    pub rejections: u64,
}

/// A firing of the rejection alert rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertFired {
    pub fired_at_ms: i64,
    pub rejections: u64,
    pub window_secs: u64,
}

/// Everything the monitor page shows, in one answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MonitorSnapshot {
    pub generated_at_ms: i64,
    /// The period covered: from `since_ms` to `generated_at_ms`, in buckets of `bucket_secs`.
    pub since_ms: i64,
    pub bucket_secs: u64,
    pub feedback: Vec<FeedbackBucket>,
    /// Newest first.
    pub recent_rejections: Vec<ExportedFeedback>,
    /// Newest first.
    pub alerts: Vec<AlertFired>,
    /// Rows not yet accepted by Application Insights.
    pub unexported: u64,
    /// Whether an Application Insights connection string is configured at all.
    pub exporting: bool,
    /// Oldest first.
    pub radar: Vec<StoredRadarWindow>,
}
