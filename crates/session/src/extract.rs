//! Extractors that read the [`Sessions`] handle from the router's state: the
//! client's address, judged by the configured trusted proxies. (The rule itself is in
//! `http::client_addr`, which knows nothing of the handle.)

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRef, FromRequestParts};
use axum::http::request::Parts;

use crate::error::ApiError;
use crate::http::{client_ip, client_key, ClientAddr};
use crate::sessions::Sessions;

impl<S> FromRequestParts<S> for ClientAddr
where
    S: Send + Sync,
    Sessions: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let sessions = Sessions::from_ref(state);
        let config = sessions.config();
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip())
            .ok_or_else(ApiError::internal)?;
        let forwarded = parts
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|value| value.to_str().ok());
        let client = client_ip(peer, forwarded, &config.trusted_proxies);
        Ok(Self(client_key(client, config.client_ipv6_prefix)))
    }
}
