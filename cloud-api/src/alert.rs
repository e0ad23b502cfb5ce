use std::time::Duration;

use crate::feedback::Verdict;
use crate::store::{AlertRecord, Store, StoreError};

/// `threshold` or more rejections within `window` fire the alert; the same rule as the Azure
/// scheduled query in `infra/`, evaluated here on every rejection so it can be seen and tested
/// without Azure. It fires at most once per window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AlertRule {
    pub threshold: u64,
    pub window: Duration,
}

impl AlertRule {
    /// Evaluate the rule at `now_ms`; the alert it fired, if any, is recorded and logged.
    pub fn evaluate(&self, store: &Store, now_ms: i64) -> Result<Option<AlertRecord>, StoreError> {
        let window_ms = i64::try_from(self.window.as_millis()).unwrap_or(i64::MAX);
        let since = now_ms.saturating_sub(window_ms);
        // Runs on every rejection, so it must not grow with them: an alert already fired in the
        // window ends it, and the count stops at the threshold.
        if !store.alerts_since(since)?.is_empty() {
            return Ok(None);
        }
        let rejections = store.count_since_up_to(Verdict::Rejection, since, self.threshold)?;
        if rejections < self.threshold {
            return Ok(None);
        }
        let alert = AlertRecord {
            fired_at_ms: now_ms,
            rejections,
            window_secs: self.window.as_secs(),
        };
        // Another request (or replica) may have fired it since the check above.
        if !store.record_alert_once(&alert, since)? {
            return Ok(None);
        }
        tracing::warn!(
            rejections,
            window_secs = alert.window_secs,
            "ALERT prediction_rejected: {rejections} rejections in the last {}s (rule: {} or more)",
            alert.window_secs,
            self.threshold
        );
        Ok(Some(alert))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::feedback::tests::rejection;
    use crate::store::Location;

    #[test]
    fn fires_on_the_third_rejection_within_five_minutes_then_once_per_window() {
        let dir = std::env::temp_dir().join(format!("moodwing-alert-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let store = Store::open(&Location::Sqlite(dir.join("feedback.sqlite"))).unwrap();
        let rule = AlertRule {
            threshold: 3,
            window: Duration::from_secs(300),
        };
        let minute = 60_000;

        // Two, then a third six minutes later: the first has left the window.
        for at in [0, 2 * minute, 6 * minute] {
            store.insert(&rejection("late"), at).unwrap();
            assert_eq!(rule.evaluate(&store, at).unwrap(), None, "at {at}");
        }
        store.insert(&rejection("late"), 7 * minute).unwrap();
        let fired = rule.evaluate(&store, 7 * minute).unwrap().expect("fires");
        assert_eq!(fired.rejections, 3);

        store.insert(&rejection("late"), 8 * minute).unwrap();
        assert_eq!(
            rule.evaluate(&store, 8 * minute).unwrap(),
            None,
            "already fired"
        );
        assert_eq!(store.alerts_since(0).unwrap().len(), 1);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
