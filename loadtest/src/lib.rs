//! `anote loadtest`: rehearses exam week against a running Anote. Virtual
//! students arrive on a schedule fixed in advance by a load profile (an open
//! model: a slow server does not slow the arrivals, so its latency shows in
//! full), the latencies go into HDR histograms, and the run ends with a
//! table, a JSON file of every figure and a self-contained HTML report.
//!
//! It speaks to the services over HTTP only, as a client would; the binary
//! parses [`LoadTest`] as the `loadtest` subcommand and calls [`run`].
//!
//! # Layout
//!
//! - `driver`: the arguments, the run, arrivals on time, memory sampling, the progress line.
//! - `profile`: load profiles (built-in and TOML) and their arrival schedules.
//! - `student`: the virtual students and what one does when an arrival is due (the Anote-specific part).
//! - `ceiling`: a bare axum handler in this process, loaded instead of Anote.
//! - `stats`: what was measured: latency histograms (HDR), statuses and projection lag, per kind and per second.
//! - `report`: the terminal table, the JSON report and the HTML page with charts.
//! - `vocabulary`: the words notes are written and searched with, by Zipf's law.
//! - `export`: `--export N`, an account's export: its time and the services' memory.
//! - `streams`: `--streams N`, the live changes streams' cost and delay.
//! - `sse`: Server-Sent Events read from a byte stream (also the tests').

mod ceiling;
mod driver;
mod export;
mod profile;
mod report;
pub mod sse;
mod stats;
mod streams;
mod student;
pub mod vocabulary;

pub use driver::{run, LoadTest};
