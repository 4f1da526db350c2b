//! The job offer listing's response cache (CONTRACT §4): the serialized answer of a listing, per company and
//! query, kept with the [`OffersVersion`] it was made at and its `ETag`.
//!
//! The version is read from the database with the API key on every request (one statement), and changes in
//! the same transaction as any write to the company's offers (migration 6). An entry is served only when its
//! version is the current one, so an edited, added or removed offer is seen by the next request on every
//! instance, and a revoked key is refused before the cache is consulted (CONTRACT §2): the cache saves the
//! listing's statement and its serialization, never correctness. Each server instance has its own.

use std::collections::HashMap;
use std::sync::Mutex;

use axum::http::HeaderValue;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::domain::job_offer_query::JobOfferQuery;
use crate::service::auth::OffersVersion;

/// Bounds on what one instance keeps. When an insertion would pass either, the whole cache is emptied: every
/// entry is cheap to make again, and a simple rule keeps memory bounded whatever the traffic.
const MAX_ENTRIES: usize = 10_000;
const MAX_BYTES: usize = 64 << 20;

/// What a listing answer depends on besides the data: the company and the parsed query (so `?page=1` and
/// `?page=01&unknown=x` share an entry).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ListingKey {
    company_id: Uuid,
    page: i64,
    per_page: i64,
    status: String,
    location: Option<String>,
    job_type: Option<String>,
    published_after: Option<DateTime<Utc>>,
    published_before: Option<DateTime<Utc>>,
}

impl ListingKey {
    pub fn new(company_id: Uuid, query: &JobOfferQuery) -> Self {
        ListingKey {
            company_id,
            page: query.page,
            per_page: query.per_page,
            status: query.status.clone(),
            location: query.location.clone(),
            job_type: query.job_type.clone(),
            published_after: query.published_after,
            published_before: query.published_before,
        }
    }
}

/// A listing answer: its JSON body and its entity tag.
#[derive(Debug, Clone)]
pub struct CachedListing {
    pub version: OffersVersion,
    /// A strong tag made from the body's bytes: the same answer has the same tag on every instance.
    pub etag: HeaderValue,
    pub body: Bytes,
}

impl CachedListing {
    pub fn new(version: OffersVersion, body: Vec<u8>) -> Self {
        let digest = Sha256::digest(&body);
        let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
        let etag = HeaderValue::from_str(&format!("\"{hex}\"")).unwrap_or_else(|_| HeaderValue::from_static("\"\""));
        CachedListing { version, etag, body: Bytes::from(body) }
    }

    /// `If-None-Match` (RFC 9110 §13.1.2): a list of tags or `*`, compared weakly.
    pub fn matches_if_none_match(&self, if_none_match: &HeaderValue) -> bool {
        let Ok(tags) = if_none_match.to_str() else {
            return false;
        };
        let ours = self.etag.as_bytes();
        tags.split(',').map(str::trim).any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag).as_bytes() == ours)
    }
}

#[derive(Default)]
pub struct ListingCache {
    state: Mutex<CacheState>,
}

#[derive(Default)]
struct CacheState {
    entries: HashMap<ListingKey, CachedListing>,
    bytes: usize,
}

impl ListingCache {
    /// The cached answer, only if it was made at `version`.
    pub fn get(&self, key: &ListingKey, version: OffersVersion) -> Option<CachedListing> {
        let state = self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        state.entries.get(key).filter(|entry| entry.version == version).cloned()
    }

    /// Keeps `listing` unless a newer version is already there (versions only grow: migration 6's sequence).
    pub fn insert(&self, key: ListingKey, listing: CachedListing) {
        let mut state = self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(existing) = state.entries.get(&key) {
            if existing.version.0 > listing.version.0 {
                return;
            }
            state.bytes -= existing.body.len();
        } else if state.entries.len() >= MAX_ENTRIES || state.bytes + listing.body.len() > MAX_BYTES {
            state.entries.clear();
            state.bytes = 0;
        }
        state.bytes += listing.body.len();
        state.entries.insert(key, listing);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(page: i64) -> ListingKey {
        ListingKey::new(Uuid::nil(), &JobOfferQuery { page, ..JobOfferQuery::default() })
    }

    #[test]
    fn an_entry_is_served_only_at_its_version() {
        let cache = ListingCache::default();
        cache.insert(key(1), CachedListing::new(OffersVersion(7), b"{}".to_vec()));
        assert!(cache.get(&key(1), OffersVersion(7)).is_some());
        assert!(cache.get(&key(1), OffersVersion(8)).is_none());
        assert!(cache.get(&key(2), OffersVersion(7)).is_none());
        // An older answer arriving late does not replace a newer one.
        cache.insert(key(1), CachedListing::new(OffersVersion(6), b"[]".to_vec()));
        assert_eq!(&cache.get(&key(1), OffersVersion(7)).unwrap().body[..], b"{}");
    }

    #[test]
    fn if_none_match_compares_lists_weakly_and_accepts_a_star() {
        let listing = CachedListing::new(OffersVersion(1), b"{\"a\":1}".to_vec());
        let tag = listing.etag.to_str().unwrap().to_owned();
        for header in [tag.clone(), format!("W/{tag}"), format!("\"x\", {tag}"), "*".to_owned()] {
            assert!(listing.matches_if_none_match(&HeaderValue::from_str(&header).unwrap()), "{header}");
        }
        assert!(!listing.matches_if_none_match(&HeaderValue::from_static("\"other\"")));
        assert_ne!(CachedListing::new(OffersVersion(1), b"{}".to_vec()).etag, listing.etag);
    }

    #[test]
    fn memory_stays_bounded() {
        let cache = ListingCache::default();
        for page in 0..(MAX_ENTRIES as i64 + 10) {
            cache.insert(key(page), CachedListing::new(OffersVersion(1), vec![b' '; 10]));
        }
        let state = cache.state.lock().unwrap();
        assert!(state.entries.len() <= MAX_ENTRIES);
        assert_eq!(state.bytes, state.entries.len() * 10);
    }
}
