//! The monitor page's charts as numbers: which points and bars to draw where. Pure functions, so
//! they are tested natively; `monitor` turns them into SVG.

use moodwing_protocol::{FeedbackBucket, StoredRadarWindow};

/// The drawing area of both charts, in SVG units.
pub const WIDTH: f64 = 600.0;
pub const HEIGHT: f64 = 160.0;

/// One model version's rejection rate over time.
#[derive(Debug, Clone, PartialEq)]
pub struct RateSeries {
    /// `name vN`.
    pub model: String,
    pub validations: u64,
    pub rejections: u64,
    /// `(x, y, rate, feedbacks)` for each bucket that had feedback: x along the period, y from
    /// the top (rate 1) to the bottom (rate 0).
    pub points: Vec<(f64, f64, f64, u64)>,
}

impl RateSeries {
    pub fn rate(&self) -> Option<f64> {
        let total = self.validations + self.rejections;
        (total > 0).then(|| self.rejections as f64 / total as f64)
    }

    /// The SVG `points` of its polyline.
    pub fn polyline(&self) -> String {
        self.points
            .iter()
            .map(|(x, y, _, _)| format!("{x:.1},{y:.1}"))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// Where a time falls across the chart, from `since_ms` (left) to `until_ms` (right).
pub fn x_of(time_ms: i64, since_ms: i64, until_ms: i64) -> f64 {
    let span = (until_ms - since_ms).max(1) as f64;
    ((time_ms - since_ms) as f64 / span).clamp(0.0, 1.0) * WIDTH
}

/// One series per model version (in order of first appearance), a point per bucket with
/// feedback, placed at the bucket's middle.
pub fn rate_series(
    buckets: &[FeedbackBucket],
    since_ms: i64,
    until_ms: i64,
    bucket_ms: i64,
) -> Vec<RateSeries> {
    let mut series: Vec<RateSeries> = Vec::new();
    for bucket in buckets {
        let model = format!("{} v{}", bucket.model.name, bucket.model.version);
        let index = match series.iter().position(|s| s.model == model) {
            Some(index) => index,
            None => {
                series.push(RateSeries {
                    model,
                    validations: 0,
                    rejections: 0,
                    points: Vec::new(),
                });
                series.len() - 1
            }
        };
        let entry = &mut series[index];
        entry.validations += bucket.validations;
        entry.rejections += bucket.rejections;
        let total = bucket.validations + bucket.rejections;
        if total > 0 {
            let rate = bucket.rejections as f64 / total as f64;
            let x = x_of(bucket.start_ms + bucket_ms / 2, since_ms, until_ms);
            entry.points.push((x, (1.0 - rate) * HEIGHT, rate, total));
        }
    }
    series
}

/// A radar window as a bar: `(x, width, tweets' height, negatives' height, flagged)`, heights
/// against the busiest window.
pub fn radar_bars(
    windows: &[StoredRadarWindow],
    since_ms: i64,
    until_ms: i64,
) -> Vec<(f64, f64, f64, f64, bool)> {
    let busiest = windows
        .iter()
        .map(|w| w.window.tweets)
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    windows
        .iter()
        .map(|stored| {
            let start = stored.window.start_ms;
            let end = start + i64::try_from(stored.window_secs).unwrap_or(0) * 1000;
            let x = x_of(start, since_ms, until_ms);
            let width = (x_of(end, since_ms, until_ms) - x).max(1.0);
            (
                x,
                width,
                stored.window.tweets as f64 / busiest * HEIGHT,
                stored.window.negatives as f64 / busiest * HEIGHT,
                stored.window.suspicion.is_some(),
            )
        })
        .collect()
}

/// `HH:MM` (UTC) of a Unix-milliseconds time.
pub fn clock(time_ms: i64) -> String {
    let minutes = time_ms.div_euclid(60_000);
    format!(
        "{:02}:{:02}",
        minutes.div_euclid(60).rem_euclid(24),
        minutes.rem_euclid(60)
    )
}

#[cfg(test)]
mod tests {
    use moodwing_protocol::{ModelId, RadarWindow, Suspicion};

    use super::*;

    fn bucket(start_ms: i64, version: &str, validations: u64, rejections: u64) -> FeedbackBucket {
        FeedbackBucket {
            start_ms,
            model: ModelId {
                name: "moodwing-lstm".into(),
                version: version.into(),
            },
            validations,
            rejections,
        }
    }

    #[test]
    fn one_series_per_version_with_a_point_per_bucket_at_its_rate() {
        let hour = 3_600_000;
        let buckets = [
            bucket(0, "3", 3, 1),
            bucket(0, "4", 0, 2),
            bucket(hour / 2, "3", 1, 1),
        ];
        let series = rate_series(&buckets, 0, hour, hour / 2);
        assert_eq!(series.len(), 2);
        assert_eq!(series[0].model, "moodwing-lstm v3");
        assert_eq!((series[0].validations, series[0].rejections), (4, 2));
        assert_eq!(series[0].rate(), Some(2.0 / 6.0));
        // Bucket middles at a quarter and three quarters of the hour; 25 % and 50 % rejected.
        assert_eq!(
            series[0].points,
            [
                (WIDTH / 4.0, 0.75 * HEIGHT, 0.25, 4),
                (0.75 * WIDTH, 0.5 * HEIGHT, 0.5, 2)
            ]
        );
        assert_eq!(series[1].points, [(WIDTH / 4.0, 0.0, 1.0, 2)]);
        assert_eq!(series[1].polyline(), "150.0,0.0");
    }

    #[test]
    fn radar_bars_scale_to_the_busiest_window_and_keep_the_flag() {
        let window = |start_ms, tweets, negatives, flagged: bool| StoredRadarWindow {
            source: "s".into(),
            window_secs: 900,
            window: RadarWindow {
                start_ms,
                tweets,
                negatives,
                suspicion: flagged.then(|| Suspicion {
                    z_volume: 5.0,
                    z_share: 5.0,
                    rule: String::new(),
                    most_negative: Vec::new(),
                }),
            },
        };
        let bars = radar_bars(
            &[window(0, 50, 10, false), window(900_000, 100, 80, true)],
            0,
            3_600_000,
        );
        assert_eq!(
            bars[0],
            (0.0, WIDTH / 4.0, HEIGHT / 2.0, HEIGHT / 10.0, false)
        );
        assert_eq!(
            bars[1],
            (WIDTH / 4.0, WIDTH / 4.0, HEIGHT, 0.8 * HEIGHT, true)
        );
    }

    #[test]
    fn clock_is_utc_hours_and_minutes() {
        assert_eq!(clock(1_795_672_800_000 + 15 * 60_000 + 59_999), "06:15");
        assert_eq!(clock(0), "00:00");
    }
}
