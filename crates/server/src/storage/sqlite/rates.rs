//! [`RateLimitStore`] for the embedded backend: the counters stay in this process
//! ([`LocalRates`](crate::storage::LocalRates)), the database file's only user.

use std::net::IpAddr;
use std::num::NonZeroU32;

use async_trait::async_trait;

use super::SqliteStorage;
use crate::storage::{RateAction, RateLimitStore, RateVerdict, StoreError};

#[async_trait]
impl RateLimitStore for SqliteStorage {
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
