//! The rule: a window is a **bad-buzz suspicion** when it has at least `min_negatives` negative
//! tweets and its negative volume or its negative share is at least `z` robust standard
//! deviations above the median of the `baseline` windows before it (at least `min_history` of
//! them; windows already flagged are left out of later baselines, so a long burst stays visible).
//! The robust deviation is 1.4826 x the median absolute deviation, floored so that a calm, flat
//! baseline does not make any small change look huge: at sqrt(median) + 1 tweets for the volume
//! (the spread of a count), and 5 points for the share.

use crate::Window;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rule {
    pub baseline: usize,
    pub min_history: usize,
    pub z: f64,
    pub min_negatives: u64,
}

impl Default for Rule {
    fn default() -> Self {
        Self {
            baseline: 8,
            min_history: 3,
            z: 4.0,
            min_negatives: 10,
        }
    }
}

impl std::fmt::Display for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "z >= {} over the {} windows before (at least {}), >= {} negatives",
            self.z, self.baseline, self.min_history, self.min_negatives
        )
    }
}

/// A flagged window and by how much it stood out.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Suspicion {
    pub window: usize,
    pub z_volume: f64,
    pub z_share: f64,
}

pub fn detect(windows: &[Window], rule: &Rule) -> Vec<Suspicion> {
    let mut flagged: Vec<Suspicion> = Vec::new();
    for (index, window) in windows.iter().enumerate() {
        let history: Vec<&Window> = windows[..index]
            .iter()
            .enumerate()
            .rev()
            .filter(|(i, _)| !flagged.iter().any(|s| s.window == *i))
            .take(rule.baseline)
            .map(|(_, w)| w)
            .collect();
        if history.len() < rule.min_history || window.negatives < rule.min_negatives {
            continue;
        }
        let volumes: Vec<f64> = history.iter().map(|w| w.negatives as f64).collect();
        let shares: Vec<f64> = history.iter().map(|w| w.negative_share()).collect();
        let (volume_median, volume_spread) = robust(&volumes);
        let (share_median, share_spread) = robust(&shares);
        let z_volume = (window.negatives as f64 - volume_median)
            / volume_spread.max(volume_median.sqrt() + 1.0);
        let z_share = (window.negative_share() - share_median) / share_spread.max(0.05);
        if z_volume >= rule.z || z_share >= rule.z {
            flagged.push(Suspicion {
                window: index,
                z_volume,
                z_share,
            });
        }
    }
    flagged
}

/// Median and 1.4826 x median absolute deviation.
fn robust(values: &[f64]) -> (f64, f64) {
    let middle = median(values.to_vec());
    let deviations: Vec<f64> = values.iter().map(|v| (v - middle).abs()).collect();
    (middle, 1.4826 * median(deviations))
}

fn median(mut values: Vec<f64>) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    let middle = values.len() / 2;
    if values.len().is_multiple_of(2) {
        (values[middle - 1] + values[middle]) / 2.0
    } else {
        values[middle]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(volume: u64, negatives: u64) -> Window {
        Window {
            start_ms: 0,
            volume,
            negatives,
            most_negative: Vec::new(),
        }
    }

    #[test]
    fn a_jump_is_flagged_and_ordinary_noise_is_not() {
        let mut windows: Vec<Window> = [(40, 12), (38, 10), (45, 14), (41, 11), (39, 13), (44, 12)]
            .into_iter()
            .map(|(v, n)| window(v, n))
            .collect();
        assert!(detect(&windows, &Rule::default()).is_empty());
        windows.push(window(80, 52)); // the burst
        windows.push(window(70, 40)); // it goes on: still flagged, not absorbed
        windows.push(window(42, 12));
        let flagged: Vec<usize> = detect(&windows, &Rule::default())
            .iter()
            .map(|s| s.window)
            .collect();
        assert_eq!(flagged, [6, 7]);
    }

    #[test]
    fn too_few_negatives_or_too_little_history_flag_nothing() {
        let windows = [window(5, 0), window(5, 0), window(5, 1), window(9, 9)];
        assert!(
            detect(&windows, &Rule::default()).is_empty(),
            "9 < min_negatives"
        );
        let windows = [window(40, 10), window(90, 80)];
        assert!(
            detect(&windows, &Rule::default()).is_empty(),
            "one window of history"
        );
    }
}
