//! A client-side limit on the operator's API requests: a token bucket of
//! `burst` requests refilled at `qps` per second, as client-go's flags
//! `--kube-api-qps` and `--kube-api-burst` offer. Waits; never fails.

use std::{sync::Mutex, time::Duration};

use tokio::time::Instant;

/// A token bucket. Each request takes a token, waiting for its turn when
/// none is left; waiters are served in the order they asked.
#[derive(Debug)]
pub struct RateLimit {
    qps: f64,
    burst: f64,
    /// Tokens left (negative: reserved by waiters) and when last refilled.
    state: Mutex<(f64, Instant)>,
}

impl RateLimit {
    /// `qps` requests per second on average, `burst` at once; `None` when `qps` is 0 (no limit).
    pub fn new(qps: f64, burst: u32) -> Option<Self> {
        (qps > 0.0).then(|| {
            let burst = f64::from(burst.max(1));
            Self {
                qps,
                burst,
                state: Mutex::new((burst, Instant::now())),
            }
        })
    }

    /// Waits until a request may be made.
    pub async fn acquire(&self) {
        let wait = {
            let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
            let now = Instant::now();
            let (tokens, last) = *state;
            let refilled =
                (tokens + now.duration_since(last).as_secs_f64() * self.qps).min(self.burst);
            *state = (refilled - 1.0, now);
            if refilled >= 1.0 {
                Duration::ZERO
            } else {
                Duration::from_secs_f64((1.0 - refilled) / self.qps)
            }
        };
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_burst_then_the_rate() {
        let limit = RateLimit::new(5.0, 2).expect("a limit");
        let started = Instant::now();
        for _ in 0..2 {
            limit.acquire().await;
        }
        assert_eq!(
            started.elapsed(),
            Duration::ZERO,
            "the burst passes at once"
        );
        for _ in 0..10 {
            limit.acquire().await;
        }
        let elapsed = started.elapsed().as_secs_f64();
        assert!(
            (elapsed - 2.0).abs() < 0.01,
            "10 more at 5 per second: {elapsed}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_waiters_share_the_rate() {
        let limit = std::sync::Arc::new(RateLimit::new(10.0, 1).expect("a limit"));
        let started = Instant::now();
        let tasks: Vec<_> = (0..21)
            .map(|_| {
                let l = limit.clone();
                tokio::spawn(async move { l.acquire().await })
            })
            .collect();
        for t in tasks {
            t.await.expect("task");
        }
        let elapsed = started.elapsed().as_secs_f64();
        assert!(
            (elapsed - 2.0).abs() < 0.01,
            "21 requests, burst 1, 10 per second: {elapsed}"
        );
    }

    #[test]
    fn zero_means_no_limit() {
        assert!(RateLimit::new(0.0, 10).is_none());
    }
}
