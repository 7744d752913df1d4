//! [`Events`]: a reply's Server-Sent Events as they come, from the
//! in-process router's body or a real connection's.

use std::collections::VecDeque;
use std::time::Duration;

use anote_loadtest::sse::{SseEvent, SseParser};
use axum::body::Bytes;
use futures_util::stream::BoxStream;
use futures_util::{Stream, StreamExt};

/// A reply's Server-Sent Events, read as they come.
pub struct Events {
    body: BoxStream<'static, Result<Bytes, String>>,
    parser: SseParser,
    ready: VecDeque<SseEvent>,
}

impl Events {
    /// The events of a body's chunks.
    pub fn of<E: std::fmt::Display>(
        body: impl Stream<Item = Result<Bytes, E>> + Send + 'static,
    ) -> Self {
        Self {
            body: body.map(|chunk| chunk.map_err(|e| e.to_string())).boxed(),
            parser: SseParser::default(),
            ready: VecDeque::new(),
        }
    }

    /// The events of a reply over a real connection.
    pub fn of_response(response: reqwest::Response) -> Self {
        Self::of(futures_util::stream::unfold(
            response,
            |mut response| async move {
                let chunk = response.chunk().await.transpose()?;
                Some((chunk, response))
            },
        ))
    }

    /// The next event or comment within `wait`; `None` when the stream
    /// ended. Panics when nothing came in time.
    pub async fn next(&mut self, wait: Duration) -> Option<SseEvent> {
        tokio::time::timeout(wait, self.next_now())
            .await
            .expect("an event in time")
    }

    /// The next event that is not a comment, each comment within `wait`.
    pub async fn next_event(&mut self, wait: Duration) -> Option<SseEvent> {
        loop {
            match self.next(wait).await {
                Some(event) if event.comment => continue,
                other => return other,
            }
        }
    }

    async fn next_now(&mut self) -> Option<SseEvent> {
        loop {
            if let Some(event) = self.ready.pop_front() {
                return Some(event);
            }
            let chunk = self.body.next().await?.expect("the stream's bytes");
            self.ready.extend(self.parser.push(&chunk));
        }
    }
}
