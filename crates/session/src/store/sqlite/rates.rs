//! [`RateLimitStore`] for the SQLite store: the counters stay in this process
//! ([`LocalRates`](crate::store::LocalRates)), the database file's only user.

use std::net::IpAddr;
use std::num::NonZeroU32;

use async_trait::async_trait;

use super::SqliteStore;
use crate::store::{RateAction, RateLimitStore, RateVerdict, StoreError};

#[async_trait]
impl RateLimitStore for SqliteStore {
    async fn check_rate(
        &self,
        action: RateAction,
        client: IpAddr,
        per_minute: NonZeroU32,
    ) -> Result<RateVerdict, StoreError> {
        Ok(self.rates.check(action, client, per_minute))
    }

    async fn forget_idle_rates(&self) -> Result<(), StoreError> {
        self.rates.forget_idle();
        Ok(())
    }
}
