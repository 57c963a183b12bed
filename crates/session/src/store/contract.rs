//! The behaviour every session store must show (feature `contract`). A store's tests
//! call [`check_store`]; a new store is done when it passes. The crate's own stores
//! are held to it, and so is an application's store that adds its own data.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use trustyconvert_session::store::{contract, MemoryStore};
//! contract::check_store(&MemoryStore::default()).await;
//! # }
//! ```

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use super::{
    CsrfState, CsrfSwap, PreviousNonce, RateAction, RateVerdict, ResolvedSwap, SessionRecord,
    Storage, StoreError,
};
use crate::crypto::{generate_csrf_nonce, generate_public_id, SessionSecret, CSRF_NONCE_BYTES};
use crate::time::Timestamp;

/// Runs every part of the contract against `store`; panics at the first break.
pub async fn check_store<S: Storage + ?Sized>(store: &S) {
    sessions(store).await;
    rotation_is_compare_and_swap(store).await;
    rotation_in_the_resolving_step(store).await;
    sweeping_removes_expired_sessions(store).await;
    rate_limits(store).await;
}

/// A new session record with a fresh key, idle for `idle` from `now` and absolutely
/// expiring ten idle periods later.
pub fn sample_record(now: Timestamp, idle: Duration) -> SessionRecord {
    SessionRecord {
        key: SessionSecret::generate().store_key(),
        public_id: generate_public_id(),
        created_at: now,
        idle_expires_at: now.plus(idle),
        absolute_expires_at: now.plus(idle * 10),
        csrf: CsrfState {
            current: generate_csrf_nonce(),
            previous: None,
        },
    }
}

async fn sessions<S: Storage + ?Sized>(store: &S) {
    let now = Timestamp::now();
    let live = sample_record(now, Duration::from_secs(60));
    store.insert_session(&live).await.unwrap();
    assert!(matches!(
        store.insert_session(&live).await,
        Err(StoreError::Duplicate)
    ));
    assert_eq!(
        store.load_session(&live.key).await.unwrap(),
        Some(live.clone())
    );

    let later = now.plus(Duration::from_secs(120));
    assert!(store.touch_session(&live.key, later).await.unwrap());
    let loaded = store.load_session(&live.key).await.unwrap().unwrap();
    assert_eq!(loaded.idle_expires_at, later);

    let csrf = CsrfState {
        current: generate_csrf_nonce(),
        previous: Some(PreviousNonce {
            nonce: live.csrf.current,
            valid_until: later,
        }),
    };
    assert_eq!(
        store
            .swap_csrf(&live.key, &live.csrf.current, &csrf)
            .await
            .unwrap(),
        CsrfSwap::Swapped
    );
    let loaded = store.load_session(&live.key).await.unwrap().unwrap();
    assert_eq!(loaded.csrf, csrf);
    // The rotation keeps the idle expiry the touch above set.
    assert_eq!(loaded.idle_expires_at, later);

    // Resolving a request: read, and the idle expiry moved when it is due.
    let much_later = now.plus(Duration::from_secs(600));
    let resolved = store
        .resolve_session(&live.key, now, Duration::from_secs(600), Duration::ZERO)
        .await
        .unwrap()
        .expect("a stored session resolves");
    assert_eq!(resolved.idle_expires_at, much_later);
    assert_eq!(resolved.csrf, csrf);
    assert_eq!(
        store
            .load_session(&live.key)
            .await
            .unwrap()
            .unwrap()
            .idle_expires_at,
        much_later,
        "the extension is stored"
    );

    assert!(store.delete_session(&live.key).await.unwrap());
    assert!(!store.delete_session(&live.key).await.unwrap());
    assert_eq!(
        store
            .resolve_session(&live.key, now, Duration::from_secs(600), Duration::ZERO)
            .await
            .unwrap(),
        None
    );
    // Updates never resurrect a deleted session.
    assert!(!store.touch_session(&live.key, later).await.unwrap());
    assert_eq!(
        store
            .swap_csrf(&live.key, &csrf.current, &csrf)
            .await
            .unwrap(),
        CsrfSwap::Gone
    );
    assert_eq!(store.load_session(&live.key).await.unwrap(), None);
    store.ping().await.unwrap();
}

/// Rotations that present the same nonce, released together: exactly one swaps, every
/// other learns the state it lost to (so it can hand out the winner's token, never a
/// dead one of its own).
async fn rotation_is_compare_and_swap<S: Storage + ?Sized>(store: &S) {
    let now = Timestamp::now();
    let session = sample_record(now, Duration::from_secs(60));
    store.insert_session(&session).await.unwrap();
    let presented = session.csrf.current;
    let candidates: Vec<CsrfState> = (0..8)
        .map(|_| CsrfState {
            current: generate_csrf_nonce(),
            previous: Some(PreviousNonce {
                nonce: presented,
                valid_until: now.plus(Duration::from_secs(60)),
            }),
        })
        .collect();
    let outcomes = futures::future::join_all(
        candidates
            .iter()
            .map(|next| store.swap_csrf(&session.key, &presented, next)),
    )
    .await;
    let stored = store
        .load_session(&session.key)
        .await
        .unwrap()
        .unwrap()
        .csrf;
    let mut winners = 0;
    for (next, outcome) in candidates.iter().zip(outcomes) {
        match outcome.unwrap() {
            CsrfSwap::Swapped => {
                winners += 1;
                assert_eq!(stored, *next, "the winner's state is the one stored");
            }
            CsrfSwap::Superseded(current) => {
                assert_eq!(current, stored, "a loser learns the stored state")
            }
            CsrfSwap::Gone => panic!("the session exists"),
        }
    }
    assert_eq!(winners, 1, "exactly one of the racing rotations swaps");
    // Presenting the previous nonce (inside its grace) swaps nothing either.
    assert_eq!(
        store
            .swap_csrf(&session.key, &presented, &candidates[0])
            .await
            .unwrap(),
        CsrfSwap::Superseded(stored)
    );
    store.delete_session(&session.key).await.unwrap();
}

/// Resolving and rotating in one step: the idle expiry slides as in a resolve; the
/// state rotates only if the presented nonce is current and the session live; a
/// previous or unknown nonce, a dead session or a gone one rotate nothing.
async fn rotation_in_the_resolving_step<S: Storage + ?Sized>(store: &S) {
    let now = Timestamp::now();
    let idle = Duration::from_secs(600);
    let session = sample_record(now, Duration::from_secs(60));
    store.insert_session(&session).await.unwrap();
    let presented = session.csrf.current;
    let next = CsrfState {
        current: generate_csrf_nonce(),
        previous: Some(PreviousNonce {
            nonce: presented,
            valid_until: now.plus(Duration::from_secs(60)),
        }),
    };
    let resolve_and_swap = |at: Timestamp, presented: [u8; CSRF_NONCE_BYTES]| async move {
        store
            .resolve_and_swap_csrf(&session.key, at, idle, Duration::ZERO, &presented, &next)
            .await
            .unwrap()
    };
    let stored = || async { store.load_session(&session.key).await.unwrap() };

    let ResolvedSwap::Found { record, swapped } = resolve_and_swap(now, presented).await else {
        panic!("a stored session resolves");
    };
    assert!(swapped, "the current nonce rotates");
    assert_eq!(record.csrf, next);
    assert_eq!(
        record.idle_expires_at,
        now.plus(idle),
        "the idle expiry slid"
    );
    let after = stored().await.unwrap();
    assert_eq!(after.csrf, next, "the rotation is stored");
    assert_eq!(
        after.idle_expires_at,
        now.plus(idle),
        "the extension is stored"
    );

    // The previous nonce (inside its grace) and an unknown one rotate nothing.
    for other in [presented, generate_csrf_nonce()] {
        let ResolvedSwap::Found { record, swapped } = resolve_and_swap(now, other).await else {
            panic!("a stored session resolves");
        };
        assert!(!swapped);
        assert_eq!(record.csrf, next, "the stored state is reported");
    }

    // Past its absolute expiry a session rotates nothing, even with the current nonce.
    let dead = now.plus(Duration::from_secs(3600));
    match resolve_and_swap(dead, next.current).await {
        ResolvedSwap::Gone => {}
        ResolvedSwap::Found { record, swapped } => {
            assert!(!swapped, "a dead session never rotates");
            assert!(!record.is_live(dead));
        }
    }
    assert_eq!(stored().await.map(|record| record.csrf), Some(next));

    // Racing requests presenting the current nonce: exactly one rotates.
    let candidates: Vec<CsrfState> = (0..8)
        .map(|_| CsrfState {
            current: generate_csrf_nonce(),
            previous: Some(PreviousNonce {
                nonce: next.current,
                valid_until: now.plus(Duration::from_secs(60)),
            }),
        })
        .collect();
    let outcomes = futures::future::join_all(candidates.iter().map(|candidate| {
        store.resolve_and_swap_csrf(
            &session.key,
            now,
            idle,
            Duration::ZERO,
            &next.current,
            candidate,
        )
    }))
    .await;
    let winners: Vec<&CsrfState> = candidates
        .iter()
        .zip(outcomes)
        .filter_map(|(candidate, outcome)| match outcome.unwrap() {
            ResolvedSwap::Found { swapped: true, .. } => Some(candidate),
            _ => None,
        })
        .collect();
    assert_eq!(
        winners.len(),
        1,
        "exactly one of the racing rotations swaps"
    );
    assert_eq!(stored().await.map(|record| record.csrf), Some(*winners[0]));

    store.delete_session(&session.key).await.unwrap();
    assert_eq!(
        resolve_and_swap(now, next.current).await,
        ResolvedSwap::Gone
    );
    assert_eq!(stored().await, None, "nothing is resurrected");
}

async fn rate_limits<S: Storage + ?Sized>(store: &S) {
    let client: IpAddr = "192.0.2.7".parse().unwrap();
    let other: IpAddr = "192.0.2.8".parse().unwrap();
    let quota = NonZeroU32::new(3).unwrap();
    for _ in 0..3 {
        assert_eq!(
            store
                .check_rate(RateAction::named("login"), client, quota)
                .await
                .unwrap(),
            RateVerdict::Allowed
        );
    }
    match store
        .check_rate(RateAction::named("login"), client, quota)
        .await
        .unwrap()
    {
        RateVerdict::Limited { retry_after } => {
            assert!(retry_after > Duration::ZERO && retry_after <= Duration::from_secs(60));
        }
        RateVerdict::Allowed => panic!("the fourth request in a minute must be limited"),
    }
    assert_eq!(
        store
            .check_rate(RateAction::named("login"), other, quota)
            .await
            .unwrap(),
        RateVerdict::Allowed,
        "clients are counted apart"
    );
    assert_eq!(
        store
            .check_rate(RateAction::named("signup"), client, quota)
            .await
            .unwrap(),
        RateVerdict::Allowed,
        "actions are counted apart"
    );
    store.forget_idle_rates().await.unwrap();
}

/// The sweep deletes the sessions expired at the time it is given and leaves the live
/// ones. (A store whose records expire by themselves, as Redis's do, may report none.)
async fn sweeping_removes_expired_sessions<S: Storage + ?Sized>(store: &S) {
    let now = Timestamp::now();
    let expired = sample_record(now, Duration::from_millis(1));
    let live = sample_record(now, Duration::from_secs(60));
    store.insert_session(&expired).await.unwrap();
    store.insert_session(&live).await.unwrap();
    let sweep_time = now.plus(Duration::from_secs(1));
    let swept = store.sweep_expired(sweep_time).await.unwrap();
    assert!(
        swept.iter().all(|key| *key == expired.key),
        "only the expired session is swept"
    );
    assert!(
        store
            .load_session(&expired.key)
            .await
            .unwrap()
            .is_none_or(|record| !record.is_live(sweep_time)),
        "the expired session is not live after the sweep"
    );
    assert!(store.load_session(&live.key).await.unwrap().is_some());
    store.delete_session(&live.key).await.unwrap();
}
