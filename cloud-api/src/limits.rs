//! Rate limits on the feedback routes: per client IP (a script cannot flood the alert or the
//! disk from one address) and overall (nor from many). Over either, a request gets 429 with
//! `Retry-After` before its body is read.

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderName};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::ApiError;
use crate::routes::AppState;

/// The limits, from the configuration; a rate of 0 turns that limit off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitConfig {
    /// Sustained requests per minute from one client, and how many it may send at once.
    pub per_client_per_minute: u32,
    pub client_burst: u32,
    /// Sustained requests per second from all clients together, and the burst.
    pub overall_per_second: u32,
    pub overall_burst: u32,
    /// The header in which the platform's proxy puts the client's address (`x-forwarded-for` on
    /// Azure Container Apps); without one, the connection's peer address is the client.
    pub client_ip_header: Option<HeaderName>,
}

pub struct RateLimits {
    per_client: Option<DefaultKeyedRateLimiter<IpAddr>>,
    overall: Option<DefaultDirectRateLimiter>,
    client_ip_header: Option<HeaderName>,
}

impl RateLimits {
    pub fn new(config: &LimitConfig) -> Self {
        let quota = |rate: u32, per: fn(NonZeroU32) -> Quota, burst: u32| {
            NonZeroU32::new(rate).map(|rate| {
                per(rate).allow_burst(NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN))
            })
        };
        Self {
            per_client: quota(
                config.per_client_per_minute,
                Quota::per_minute,
                config.client_burst,
            )
            .map(RateLimiter::keyed),
            overall: quota(
                config.overall_per_second,
                Quota::per_second,
                config.overall_burst,
            )
            .map(RateLimiter::direct),
            client_ip_header: config.client_ip_header.clone(),
        }
    }

    /// The client's address: the last address in the proxy's header (the one the proxy itself
    /// saw; earlier ones are whatever the client claimed), else the peer's.
    pub fn client_ip(&self, headers: &HeaderMap, peer: IpAddr) -> IpAddr {
        self.client_ip_header
            .as_ref()
            .and_then(|name| headers.get_all(name).iter().next_back())
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.rsplit(',').next())
            .and_then(|last| last.trim().parse().ok())
            .unwrap_or(peer)
    }

    /// `Err(wait)` when `client` must wait before its next request.
    pub fn check(&self, client: IpAddr) -> Result<(), Duration> {
        let now = DefaultClock::default().now();
        if let Some(limiter) = &self.per_client {
            limiter
                .check_key(&client)
                .map_err(|no| no.wait_time_from(now))?;
        }
        if let Some(limiter) = &self.overall {
            limiter.check().map_err(|no| no.wait_time_from(now))?;
        }
        Ok(())
    }

    /// Forget clients whose allowance is full again, so that many addresses do not grow memory.
    pub fn forget_idle_clients(&self) {
        if let Some(limiter) = &self.per_client {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }
}

/// The middleware in front of the feedback routes.
pub async fn limit(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
    next: Next,
) -> Response {
    let client = state.limits.client_ip(request.headers(), peer.ip());
    match state.limits.check(client) {
        Ok(()) => next.run(request).await,
        Err(wait) => {
            let error = ApiError::RateLimited {
                retry_after_secs: wait.as_secs_f64().ceil().max(1.0) as u64,
            };
            state.refusals.count(&error);
            error.into_response()
        }
    }
}

/// Run [`RateLimits::forget_idle_clients`] every minute.
pub async fn forget_idle_clients(limits: Arc<RateLimits>) {
    let mut every_minute = tokio::time::interval(Duration::from_secs(60));
    loop {
        every_minute.tick().await;
        limits.forget_idle_clients();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(header: Option<&str>) -> RateLimits {
        RateLimits::new(&LimitConfig {
            per_client_per_minute: 60,
            client_burst: 2,
            overall_per_second: 1,
            overall_burst: 3,
            client_ip_header: header.map(|h| HeaderName::from_bytes(h.as_bytes()).unwrap()),
        })
    }

    #[test]
    fn a_client_gets_its_burst_then_waits_and_all_share_the_overall_burst() {
        let limits = limits(None);
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        assert!(limits.check(a).is_ok() && limits.check(a).is_ok());
        let wait = limits.check(a).unwrap_err();
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_secs(1),
            "{wait:?}"
        );
        assert!(
            limits.check(b).is_ok(),
            "another client has its own allowance"
        );
        assert!(
            limits.check(b).is_err(),
            "but the overall burst of 3 is spent"
        );
    }

    #[test]
    fn the_client_is_the_last_address_the_proxy_added() {
        let peer: IpAddr = "127.0.0.1".parse().unwrap();
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", "6.6.6.6, 203.0.113.7".parse().unwrap());
        let behind_proxy = limits(Some("x-forwarded-for"));
        assert_eq!(
            behind_proxy.client_ip(&headers, peer),
            "203.0.113.7".parse::<IpAddr>().unwrap()
        );
        assert_eq!(
            limits(None).client_ip(&headers, peer),
            peer,
            "no proxy: the header is the client's word"
        );
        headers.insert("x-forwarded-for", "not an address".parse().unwrap());
        assert_eq!(behind_proxy.client_ip(&headers, peer), peer);
    }
}
