//! The `anote` binary's integration tests, linked into one executable: the
//! backend started as processes (`anote serve`, the split services over
//! PostgreSQL, the relay and the projector on Kinesis) for what needs a
//! process, and the API's rules in process on
//! [`anote_testkit::TestApp`].

mod api_contract;
mod audit;
mod command_api;
mod documents;
mod export;
mod faults;
mod healthcheck;
mod history;
mod import;
mod kinesis_kill;
mod loadtest;
mod read_side;
mod replay;
mod sessions;
mod shredding;
mod slow_clients;
mod streams;
mod web_app;
