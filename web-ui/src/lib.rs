//! The Moodwing single-page app: type a tweet, see its sentiment, say whether it is right.
//!
//! - [`config`]: where the two APIs are, read at start from `config.json` beside the page
//! - [`api`]: the calls to the prediction API and the feedback API, with timeouts and clear errors
//! - [`tweet`]: the rules of the tweet box and the result (pure functions, tested natively)
//! - [`app`]: the yew components

pub mod api;
pub mod app;
pub mod config;
pub mod tweet;
