//! What the adapter tests share.

use std::time::{Duration, Instant};

use anote_store::event_store::{EventStore, Position};

/// Waits until every event of the log is readable in commit order (on
/// PostgreSQL, other tests' open transactions hold newer commits back for a
/// moment); returns the position of the last one.
pub async fn settled(events: &dyn EventStore) -> Position {
    let newest = events.newest().await.expect("reads");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let all = events
            .read_all(Position::START, 100_000)
            .await
            .expect("reads");
        if all.iter().map(|e| e.position.seq()).max().unwrap_or(0) >= newest {
            return all.last().map_or(Position::START, |e| e.position);
        }
        assert!(Instant::now() < deadline, "the log never settled");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
