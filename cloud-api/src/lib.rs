//! The Moodwing cloud API: what people say about predictions, kept durably and traced to
//! Application Insights.
//!
//! - [`feedback`]: a validation or a rejection, as posted by the web UI, and its checks: its fields,
//!   and the edge service's signature of the prediction (`moodwing-signature`)
//! - [`limits`]: rate limits per client and overall on the feedback routes
//! - [`store`]: SQLite (one replica) or PostgreSQL (several); committed before acknowledged
//! - [`alert`]: the rejection alert rule (3 in 5 minutes), evaluated locally as in Azure
//! - [`exporter`]: the outbox: unsent feedback and suspicions go to Application Insights as
//!   `customEvents`, and are marked sent only once the ingestion endpoint accepted them
//! - [`routes`]: the HTTP API (`/api/feedback`, `/api/feedback/stats`, `/api/health`)
//! - [`operator`]: the operator token that opens the three routes below
//! - [`export`]: `/api/feedback/export`, the stored feedback as NDJSON for the improvement loop
//! - [`monitor`]: `/api/monitor`, everything the monitor page shows
//! - [`radar`]: `/api/radar/reports`, the bad-buzz radar's windows and suspicions
//! - [`config`]: everything set from the environment, with local defaults

pub mod alert;
pub mod config;
pub mod error;
pub mod export;
pub mod exporter;
pub mod feedback;
pub mod limits;
pub mod monitor;
pub mod operator;
pub mod radar;
pub mod routes;
pub mod store;

pub use config::Config;
pub use error::ApiError;
pub use store::Store;
