use moodwing_edge_model::{Classifier, EdgeError, Label};

use crate::Tweet;

/// A tweet and what the model says of it.
#[derive(Debug, Clone)]
pub struct Scored {
    pub tweet: Tweet,
    pub label: Label,
    /// Probability that the tweet is positive.
    pub score: f32,
}

/// Tweets a thread scores between two progress reports (the batches are formed within them).
const SLICE: usize = 16_384;

/// Score every tweet on `threads` threads (each takes a contiguous share, scored in batches of one
/// token length: build the classifier [`Classifier::for_batches`]), calling `progress` with the
/// number of tweets scored since its last call. Tweets the model refuses (empty, over 1,000
/// characters) are left out and counted in the second value; any other failure of the model stops
/// it (a tweet is never silently lost), and a panic in a thread is the caller's.
pub fn score_all(
    classifier: &Classifier,
    tweets: Vec<Tweet>,
    threads: usize,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<(Vec<Scored>, usize), EdgeError> {
    let share = tweets.len().div_ceil(threads.max(1)).max(1);
    let parts: Vec<Result<Vec<Option<Scored>>, EdgeError>> = std::thread::scope(|scope| {
        let workers: Vec<_> = tweets
            .chunks(share)
            .map(|chunk| {
                scope.spawn(move || {
                    let mut scored = Vec::with_capacity(chunk.len());
                    for slice in chunk.chunks(SLICE) {
                        let texts: Vec<&str> = slice.iter().map(|t| t.text.as_str()).collect();
                        let predictions = classifier.predict_many(&texts);
                        for (tweet, prediction) in slice.iter().zip(predictions) {
                            scored.push(match prediction {
                                Ok(p) => Some(Scored {
                                    tweet: tweet.clone(),
                                    label: p.label,
                                    score: p.score,
                                }),
                                Err(EdgeError::EmptyText | EdgeError::TextTooLong { .. }) => None,
                                Err(other) => return Err(other),
                            });
                        }
                        progress(slice.len() as u64);
                    }
                    Ok(scored)
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|worker| {
                worker
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    });
    let total = tweets.len();
    let mut scored = Vec::with_capacity(total);
    for part in parts {
        scored.extend(part?.into_iter().flatten());
    }
    let refused = total - scored.len();
    Ok((scored, refused))
}
