//! Anote's adapters: the event log (PostgreSQL and SQLite), credentials and
//! sessions, access tokens, configuration, telemetry, and the HTTP pieces the
//! APIs share.

pub mod accounts;
pub mod blob;
pub mod config;
pub mod db;
pub mod documents;
pub mod emf;
pub mod error;
pub mod event_store;
pub mod feed;
pub mod http;
pub mod metrics;
pub mod read_store;
pub mod relay;
pub mod revocations;
pub mod storage;
pub mod telemetry;
pub mod tokens;

pub use error::StoreError;
pub use storage::Storage;
