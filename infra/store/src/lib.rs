//! Anote's event log and what commits in its transactions: the accounts
//! and their sessions, the document ledger, the note keys that make erasure
//! possible, and the migrations of those tables — on PostgreSQL (the split
//! services) and SQLite (the embedded default).
//!
//! # Layout
//! - [`db`]: the two databases' pools and migration runs, and [`db::Time`],
//!   which binds a time as each stores it.
//! - In `accounts`, `documents` and `event_store`, `sql.rs` holds the
//!   statements that are the same on both backends (`$1…` placeholders);
//!   `postgres.rs` and `sqlite.rs` keep those that differ, saying why.
//! - [`migrations`]: the event log's migrations, per backend.
//! - [`event_store`]: the log port (append with side writes, read a stream,
//!   tail the log in commit order), its codec, audit chain, audit anchors
//!   and note keys.
//! - [`accounts`]: credentials, sessions, refresh tokens, login limits.
//! - [`documents`]: which document objects exist and the bytes each user holds.
//! - [`revocations`]: revoked sessions, kept in memory and followed.
//! - [`storage`]: the ports of one backend, opened together.
//! - [`error`]: [`StoreError`], the one error every port returns.

pub mod accounts;
pub mod db;
pub mod documents;
pub mod error;
pub mod event_store;
pub mod migrations;
pub mod revocations;
pub mod storage;

pub use error::StoreError;
pub use storage::Storage;
