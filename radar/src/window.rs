use moodwing_edge_model::Label;

use crate::Scored;

/// The tweets of one time window.
#[derive(Debug, Clone, PartialEq)]
pub struct Window {
    /// Unix milliseconds.
    pub start_ms: i64,
    pub volume: u64,
    pub negatives: u64,
    /// The most negative tweets (lowest score first): `(score, id, text)`.
    pub most_negative: Vec<(f32, String, String)>,
}

impl Window {
    pub fn negative_share(&self) -> f64 {
        if self.volume == 0 {
            0.0
        } else {
            self.negatives as f64 / self.volume as f64
        }
    }
}

/// Every window of `width_ms` from the first tweet's to the last one's, empty ones included (a
/// silence is part of the baseline), with the `top` most negative tweets of each.
pub fn windows(scored: &[Scored], width_ms: i64, top: usize) -> Vec<Window> {
    let width_ms = width_ms.max(1);
    let start = |time_ms: i64| time_ms.div_euclid(width_ms) * width_ms;
    let (Some(first), Some(last)) = (
        scored.iter().map(|s| s.tweet.time_ms).min(),
        scored.iter().map(|s| s.tweet.time_ms).max(),
    ) else {
        return Vec::new();
    };
    let (first, last) = (start(first), start(last));
    let count = usize::try_from((last - first) / width_ms + 1).unwrap_or(0);
    let mut windows: Vec<Window> = (0..count)
        .map(|i| Window {
            start_ms: first + i as i64 * width_ms,
            volume: 0,
            negatives: 0,
            most_negative: Vec::new(),
        })
        .collect();
    for scored in scored {
        let index = usize::try_from((start(scored.tweet.time_ms) - first) / width_ms).unwrap_or(0);
        let window = &mut windows[index];
        window.volume += 1;
        if scored.label == Label::Negative {
            window.negatives += 1;
            window.most_negative.push((
                scored.score,
                scored.tweet.id.clone(),
                scored.tweet.text.clone(),
            ));
        }
    }
    for window in &mut windows {
        window.most_negative.sort_by(|a, b| a.0.total_cmp(&b.0));
        // A retweeted complaint once: the rest of the list says more.
        let mut seen = std::collections::HashSet::new();
        window
            .most_negative
            .retain(|(_, _, text)| seen.insert(text.clone()));
        window.most_negative.truncate(top);
    }
    windows
}
