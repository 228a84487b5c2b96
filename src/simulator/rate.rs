//! The API's limits, as the gateway applies them: requests of one action
//! beyond its rate within any sliding window of the rate's length, or
//! beyond its daily quota (UTC days), are refused with HTTP 429, and
//! counted. Every request counts against the rate, refused or not.

use std::time::{Duration, Instant};

use super::SimState;
use super::reply::{ACCOUNT_FLOW_LIMIT_EXCEEDED, ApiError, QUOTA_EXCEEDED};
use crate::series::Action;
use crate::timeutil;

impl SimState {
    /// Counts an arrival; the refusal if it goes over the action's limit.
    pub(super) fn admit(&self, action: Action) -> Result<(), ApiError> {
        let limit = self.config.limits.of(action.name());
        let window = limit.rate.per.max(Duration::from_secs(1));
        let mut inner = self.lock();
        let now = Instant::now();
        let q = inner.arrivals.entry(action).or_default();
        while q.front().is_some_and(|t| now.duration_since(*t) >= window) {
            q.pop_front();
        }
        q.push_back(now);
        let in_window = q.len();
        let in_one_second = q
            .iter()
            .rev()
            .take_while(|t| now.duration_since(**t) < Duration::from_secs(1))
            .count() as u64;
        let max = inner
            .stats
            .max_in_one_second
            .entry(action.name().to_string())
            .or_default();
        *max = (*max).max(in_one_second);
        if in_window > limit.rate.requests as usize {
            inner.stats.rate_limited += 1;
            inner.stats.action(action).rate_limited += 1;
            return Err(ApiError::new(
                ACCOUNT_FLOW_LIMIT_EXCEEDED,
                format!("Too many requests: at most {}", limit.rate),
            ));
        }
        let day = timeutil::now().div_euclid(86_400);
        let today = inner.today.entry(action).or_insert((day, 0));
        if today.0 != day {
            *today = (day, 0);
        }
        if let Some(quota) = limit.daily
            && today.1 >= quota
        {
            inner.stats.quota_refused += 1;
            return Err(ApiError::new(
                QUOTA_EXCEEDED,
                format!("The daily quota of {quota} requests is used up"),
            ));
        }
        today.1 += 1;
        Ok(())
    }
}
