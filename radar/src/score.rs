use moodwing_edge_model::{Classifier, Label};

use crate::Tweet;

/// A tweet and what the model says of it.
#[derive(Debug, Clone)]
pub struct Scored {
    pub tweet: Tweet,
    pub label: Label,
    /// Probability that the tweet is positive.
    pub score: f32,
}

/// Score every tweet on `threads` threads (each takes a contiguous share), calling `progress`
/// with each tweet scored. Tweets the model refuses (empty, over 1,000 characters) are left out
/// and counted in the second value.
pub fn score_all(
    classifier: &Classifier,
    tweets: Vec<Tweet>,
    threads: usize,
    progress: &(dyn Fn() + Sync),
) -> (Vec<Scored>, usize) {
    let share = tweets.len().div_ceil(threads.max(1)).max(1);
    let parts: Vec<Vec<Option<Scored>>> = std::thread::scope(|scope| {
        let workers: Vec<_> = tweets
            .chunks(share)
            .map(|chunk| {
                scope.spawn(move || {
                    chunk
                        .iter()
                        .map(|tweet| {
                            let scored = classifier.predict(&tweet.text).ok().map(|p| Scored {
                                tweet: tweet.clone(),
                                label: p.label,
                                score: p.score,
                            });
                            progress();
                            scored
                        })
                        .collect()
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|worker| worker.join().unwrap_or_default())
            .collect()
    });
    let total = tweets.len();
    let scored: Vec<Scored> = parts.into_iter().flatten().flatten().collect();
    let refused = total - scored.len();
    (scored, refused)
}
