//! Pacing one action's requests: never closer together than its limit
//! allows, never more in a (UTC) day than its quota, and, when many streams
//! wait, the most urgent first: the one whose oldest unfetched bucket is
//! closest to leaving the 60-minute horizon. No stream is starved (its
//! oldest bucket only ages until it is the most urgent), and a pass that
//! needs more requests than its interval allows loses as little as the
//! budget can save.
//!
//! The spacing is kept between the requests as they leave, not only
//! between the grants: a grant is held until its request is sent (or
//! given up), and the next request may leave one spacing after it. A
//! request planned after its grant (the collector reads the archive to
//! plan its window then) can therefore never be sent right before the
//! next one, however slow the machine.
//!
//! Waiting is cheap at any scale: each waiter sleeps on its own `Notify`,
//! and only the waiter at the head of the queue is woken when a slot frees
//! (no thundering herd), so a pass over thousands of streams costs
//! O(n log n), not O(n²).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use crate::budget::Limit;
use crate::timeutil;

/// The daily quota is used up until `until` (Unix seconds: the next UTC
/// midnight).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the daily quota of {quota} requests is used up until {}", timeutil::fmt_utc(*.until))]
pub struct QuotaExhausted {
    pub quota: u32,
    pub until: i64,
}

/// What the pacer has granted, for status and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    /// Requests granted today (UTC), this process and those before it that
    /// the archive knows of.
    pub today: u32,
    /// Requests granted in the last minute by this process.
    pub last_minute: u32,
    /// Streams waiting for their turn now.
    pub waiting: usize,
}

/// One action's pacer.
pub struct Pacer {
    limit: Limit,
    spacing: Duration,
    state: Mutex<State>,
}

struct State {
    /// When the next request may leave.
    next_at: Instant,
    /// A grant whose request has not left yet: no other is granted until
    /// it is sent or given up.
    outstanding: bool,
    /// Waiters by (urgency, arrival): the first is served first.
    waiting: BTreeMap<(i64, u64), Arc<Notify>>,
    arrivals: u64,
    /// The UTC day of `today`'s count.
    day: i64,
    today: u32,
    /// When the requests of the last minute left.
    recent: std::collections::VecDeque<Instant>,
}

impl State {
    /// Wakes whoever is at the head of the queue now.
    fn wake_head(&self) {
        if let Some(n) = self.waiting.values().next() {
            n.notify_one();
        }
    }

    fn roll_day(&mut self, now_unix: i64) {
        let day = now_unix.div_euclid(86_400);
        if day != self.day {
            self.day = day;
            self.today = 0;
        }
    }
}

/// A granted turn: send the request, then call [`Grant::sent`] (the
/// client's `send_now` does); dropped unsent, the turn is given up and the
/// next waiter may go.
#[must_use = "a grant holds the action's turn until it is sent or dropped"]
pub struct Grant<'a> {
    pacer: &'a Pacer,
    waited: Duration,
    done: bool,
}

impl std::fmt::Debug for Grant<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Grant")
            .field("waited", &self.waited)
            .finish()
    }
}

impl Grant<'_> {
    /// How long the wait for this turn took.
    pub fn waited(&self) -> Duration {
        self.waited
    }

    /// The request is leaving now: the next may leave one spacing later.
    pub fn sent(mut self) {
        self.done = true;
        let mut st = self.pacer.lock();
        st.outstanding = false;
        st.next_at = st.next_at.max(Instant::now() + self.pacer.spacing);
        st.wake_head();
    }
}

impl Drop for Grant<'_> {
    fn drop(&mut self) {
        if !self.done {
            let mut st = self.pacer.lock();
            st.outstanding = false;
            st.wake_head();
        }
    }
}

/// Takes the waiter out of the queue however `permit` ends (a grant, the
/// quota, or the future dropped by a shutdown), and wakes the next one.
struct Ticket<'a> {
    pacer: &'a Pacer,
    key: (i64, u64),
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        let mut st = self.pacer.lock();
        if st.waiting.remove(&self.key).is_some() {
            st.wake_head();
        }
    }
}

impl Pacer {
    /// A pacer for `limit` that has granted nothing yet; until
    /// [`Pacer::resume`] says otherwise, the first request may leave after
    /// one spacing of the rate (a collector that ran just before may have
    /// sent a moment ago: the API counts per account).
    pub fn new(limit: Limit) -> Pacer {
        let now = Instant::now();
        let rate_spacing = Limit {
            daily: None,
            ..limit
        }
        .spacing();
        Pacer {
            limit,
            spacing: limit.spacing(),
            state: Mutex::new(State {
                next_at: now + rate_spacing,
                outstanding: false,
                waiting: BTreeMap::new(),
                arrivals: 0,
                day: timeutil::now().div_euclid(86_400),
                today: 0,
                recent: Default::default(),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Resumes from what the archive knows of earlier requests of this
    /// action: the last one (Unix seconds) and how many left today, so that
    /// a collector run from cron keeps the spacing and the quota of those
    /// before it.
    pub fn resume(&self, last_request: Option<i64>, today: u32) {
        let mut st = self.lock();
        let now_unix = timeutil::now();
        st.roll_day(now_unix);
        st.today = st.today.max(today);
        if let Some(last) = last_request {
            // the archive knows only the requests whose outcome was stored
            // (a killed collector's last one may be missing), so it can
            // only push the guess of `new` later, never earlier; the request
            // left during that second: count from its end
            let since = Duration::from_secs((now_unix - last - 1).max(0) as u64);
            st.next_at = st
                .next_at
                .max(Instant::now() + self.spacing.saturating_sub(since));
        }
    }

    /// The time between two requests.
    pub fn spacing(&self) -> Duration {
        self.spacing
    }

    pub fn limit(&self) -> Limit {
        self.limit
    }

    /// What has been granted so far.
    pub fn usage(&self) -> Usage {
        let mut st = self.lock();
        st.roll_day(timeutil::now());
        let minute_ago = Instant::now().checked_sub(Duration::from_secs(60));
        while st
            .recent
            .front()
            .is_some_and(|t| minute_ago.is_some_and(|m| *t < m))
        {
            st.recent.pop_front();
        }
        Usage {
            today: st.today,
            last_minute: st.recent.len() as u32,
            waiting: st.waiting.len(),
        }
    }

    /// Waits for this request's turn: after every more urgent waiter (a
    /// smaller `urgency`: an older oldest bucket; ties in arrival order),
    /// after the request of the previous grant has left, and no sooner than
    /// the limit allows. Returns the grant (hold it until the request is
    /// sent), or the quota's end if the day's quota is used up.
    pub async fn permit(&self, urgency: i64) -> Result<Grant<'_>, QuotaExhausted> {
        let started = Instant::now();
        let notify = Arc::new(Notify::new());
        let ticket = {
            let mut st = self.lock();
            st.arrivals += 1;
            let key = (urgency, st.arrivals);
            st.waiting.insert(key, notify.clone());
            // a new head may have come: it must look at the clock itself
            st.wake_head();
            Ticket { pacer: self, key }
        };
        loop {
            let notified = notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let sleep_until = {
                let mut st = self.lock();
                st.roll_day(timeutil::now());
                if let Some(quota) = self.limit.daily
                    && st.today >= quota
                {
                    return Err(QuotaExhausted {
                        quota,
                        until: (st.day + 1) * 86_400,
                    });
                }
                if st.outstanding {
                    // the previous grant's request has not left: its
                    // sending (or giving up) wakes the head
                    None
                } else if st.waiting.keys().next() == Some(&ticket.key) {
                    let now = Instant::now();
                    if st.next_at <= now {
                        st.next_at = now + self.spacing;
                        st.outstanding = true;
                        st.today += 1;
                        st.recent.push_back(now);
                        if st.recent.len() > 10_000 {
                            st.recent.pop_front();
                        }
                        drop(st);
                        // the ticket's drop hands the head to the next waiter
                        drop(ticket);
                        return Ok(Grant {
                            pacer: self,
                            waited: started.elapsed(),
                            done: false,
                        });
                    }
                    Some(st.next_at)
                } else {
                    None
                }
            };
            match sleep_until {
                Some(at) => {
                    tokio::select! {
                        _ = tokio::time::sleep_until(at) => {}
                        _ = &mut notified => {}
                    }
                }
                None => notified.await,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::budget::Rate;

    fn limit(requests: u32, per_secs: u64, daily: Option<u32>) -> Limit {
        Limit {
            rate: Rate {
                requests,
                per: Duration::from_secs(per_secs),
            },
            daily,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_most_urgent_waiter_goes_first_and_none_closer_than_the_spacing() {
        let pacer = Arc::new(Pacer::new(limit(2, 1, None)));
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        // arrivals in one order, urgencies in another
        for (i, urgency) in [50, 10, 40, 20, 30].into_iter().enumerate() {
            let pacer = pacer.clone();
            let order = order.clone();
            tasks.push(tokio::spawn(async move {
                pacer.permit(urgency).await.unwrap().sent();
                order.lock().unwrap().push((urgency, Instant::now()));
                i
            }));
            tokio::task::yield_now().await;
        }
        for t in tasks {
            t.await.unwrap();
        }
        let order = order.lock().unwrap().clone();
        let urgencies: Vec<i64> = order.iter().map(|o| o.0).collect();
        assert_eq!(urgencies, [10, 20, 30, 40, 50]);
        for w in order.windows(2) {
            assert!(w[1].1 - w[0].1 >= Duration::from_millis(550), "{order:?}");
        }
        assert_eq!(pacer.usage().today, 5);
        assert_eq!(pacer.usage().waiting, 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_more_urgent_latecomer_overtakes_the_waiting_queue() {
        let pacer = Arc::new(Pacer::new(limit(1, 10, None)));
        let order = Arc::new(Mutex::new(Vec::new()));
        let spawn = |urgency: i64| {
            let pacer = pacer.clone();
            let order = order.clone();
            tokio::spawn(async move {
                pacer.permit(urgency).await.unwrap().sent();
                order.lock().unwrap().push(urgency);
            })
        };
        let a = spawn(100);
        let b = spawn(200);
        tokio::time::sleep(Duration::from_secs(12)).await; // 100 has gone
        let c = spawn(5);
        for t in [a, b, c] {
            t.await.unwrap();
        }
        assert_eq!(*order.lock().unwrap(), [100, 5, 200]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_cancelled_waiter_leaves_the_queue_and_wakes_the_next() {
        let pacer = Arc::new(Pacer::new(limit(1, 10, None)));
        let head = {
            let pacer = pacer.clone();
            tokio::spawn(async move { pacer.permit(1).await.map(|g| g.waited()) })
        };
        tokio::task::yield_now().await;
        let next = {
            let pacer = pacer.clone();
            tokio::spawn(async move { pacer.permit(2).await.map(|g| g.waited()) })
        };
        tokio::task::yield_now().await;
        assert_eq!(pacer.usage().waiting, 2);
        head.abort();
        let _ = head.await;
        assert_eq!(pacer.usage().waiting, 1);
        next.await.unwrap().unwrap();
        assert_eq!(pacer.usage().waiting, 0);
    }

    #[tokio::test(start_paused = true)]
    async fn the_daily_quota_stops_requests_and_resumes_from_the_archive() {
        let pacer = Pacer::new(limit(10, 1, Some(3)));
        pacer.resume(None, 2);
        pacer.permit(0).await.unwrap().sent();
        let e = pacer.permit(0).await.unwrap_err();
        assert_eq!(e.quota, 3);
        assert_eq!(e.until % 86_400, 0);
        assert!(e.until > timeutil::now());
        assert!(e.to_string().contains("daily quota of 3 requests"), "{e}");
    }

    #[tokio::test(start_paused = true)]
    async fn resuming_keeps_the_spacing_of_the_collector_before() {
        // a quota of one a minute, the last request 30 s ago: the next
        // waits the rest of the minute, not just the rate's 0.11 s
        let pacer = Pacer::new(limit(10, 1, Some(1440)));
        assert_eq!(pacer.spacing(), Duration::from_secs(60));
        pacer.resume(Some(timeutil::now() - 30), 1);
        let t = Instant::now();
        pacer.permit(0).await.unwrap().sent();
        let waited = t.elapsed();
        assert!(
            waited >= Duration::from_secs(30) && waited <= Duration::from_secs(31),
            "{waited:?}"
        );
        assert_eq!(pacer.usage().today, 2);
        // nothing known: the rate's spacing, as if a request had just left
        let fresh = Pacer::new(limit(2, 1, None));
        fresh.resume(None, 0);
        let t = Instant::now();
        fresh.permit(0).await.unwrap().sent();
        assert_eq!(t.elapsed(), Duration::from_millis(550));
    }

    #[tokio::test(start_paused = true)]
    async fn the_spacing_counts_from_when_a_request_leaves_not_from_its_grant() {
        // a collector plans its window between the grant and the send (a
        // read of the archive, slow on a loaded machine): the next request
        // must not leave right after a late one
        let pacer = Arc::new(Pacer::new(limit(2, 1, None)));
        tokio::time::sleep(Duration::from_secs(5)).await;
        let first = pacer.permit(0).await.unwrap();
        let t0 = Instant::now();
        let next = {
            let pacer = pacer.clone();
            tokio::spawn(async move {
                let g = pacer.permit(1).await.unwrap();
                let at = Instant::now();
                g.sent();
                at
            })
        };
        // the first request leaves 2 s after its grant
        tokio::time::sleep(Duration::from_secs(2)).await;
        let sent_at = Instant::now();
        first.sent();
        let next_at = next.await.unwrap();
        assert!(next_at >= sent_at + pacer.spacing(), "{:?}", next_at - t0);
        // a grant given up frees the turn at once (its spacing still holds)
        let given_up = pacer.permit(2).await.unwrap();
        let before = Instant::now();
        drop(given_up);
        pacer.permit(3).await.unwrap().sent();
        assert!(Instant::now() - before <= pacer.spacing());
    }
}
