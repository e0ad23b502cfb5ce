//! The Moodwing single-page app: type a tweet, see its sentiment, say whether it is right.
//!
//! - [`config`]: where the two APIs are, read at start from `config.json` beside the page
//! - [`api`]: the calls to the prediction API and the feedback API, with timeouts and clear errors
//! - [`tweet`]: the rules of the tweet box and the result (pure functions, tested natively)
//! - [`app`]: the yew components of the prediction page, and which page to show
//! - [`on_device`]: the on-device model's worker, as the page talks to it
//! - [`monitor`]: the monitor page (`/monitor`), for the operator
//! - [`chart`]: the monitor's charts as numbers (pure functions, tested natively)

pub mod api;
pub mod app;
pub mod chart;
pub mod config;
pub mod monitor;
pub mod on_device;
pub mod tweet;
