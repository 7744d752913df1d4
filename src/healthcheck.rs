//! `anote healthcheck`: asks a running service whether it is alive, for a
//! container's `HEALTHCHECK` (the image has no shell and no curl).
//!
//! It sends `GET /healthz` to `ANOTE_HEALTHCHECK_URL` if set, else to this
//! machine on the port of `ANOTE_METRICS_LISTEN` if set (the projector and
//! the relay serve no API), else of `ANOTE_LISTEN`; it exits 0 on a 2xx
//! reply and 1 otherwise, within three seconds, with one line on standard
//! error saying why.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

/// The longest the check takes.
const TIMEOUT: Duration = Duration::from_secs(3);

/// Where the service to check listens.
#[derive(clap::Args, Debug)]
pub struct Healthcheck {
    /// The full URL to check (default: `/healthz` on the metrics listener,
    /// or else on the API listener, of this machine).
    #[arg(long, env = "ANOTE_HEALTHCHECK_URL")]
    url: Option<String>,
    /// The metrics listener of the service.
    #[arg(long, env = "ANOTE_METRICS_LISTEN")]
    metrics_listen: Option<SocketAddr>,
    /// The API listener of the service.
    #[arg(long, env = "ANOTE_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
}

impl Healthcheck {
    /// The URL to check.
    fn url(self) -> String {
        if let Some(url) = self.url {
            return url;
        }
        let listen = self.metrics_listen.unwrap_or(self.listen);
        // A service listening on every address answers on loopback.
        let ip = match listen.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
            ip => ip,
        };
        format!("http://{}/healthz", SocketAddr::new(ip, listen.port()))
    }
}

/// Checks once; `Err` carries the one-line reason.
async fn check(url: &str) -> Result<(), String> {
    let client = reqwest::Client::builder()
        .timeout(TIMEOUT)
        .no_proxy()
        .build()
        .map_err(|e| format!("building the HTTP client: {e}"))?;
    let reply = client
        .get(url)
        .send()
        .await
        .map_err(|e| format!("{url}: {}", one_line(&e)))?;
    let status = reply.status();
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("{url} answered {status}"))
    }
}

/// An error and its causes on one line.
fn one_line(err: &dyn std::error::Error) -> String {
    let mut line = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        line.push_str(": ");
        line.push_str(&cause.to_string());
        source = cause.source();
    }
    line.replace('\n', " ")
}

/// Runs the check and exits: 0 when healthy, 1 otherwise.
pub async fn run(args: Healthcheck) -> ! {
    let url = args.url();
    let outcome = tokio::time::timeout(TIMEOUT, check(&url))
        .await
        .unwrap_or_else(|_| Err(format!("{url}: no answer within {TIMEOUT:?}")));
    match outcome {
        Ok(()) => std::process::exit(0),
        Err(reason) => {
            eprintln!("unhealthy: {reason}");
            std::process::exit(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        check: Healthcheck,
    }

    fn url_of(args: &[&str]) -> String {
        let mut argv = vec!["anote"];
        argv.extend_from_slice(args);
        Cli::parse_from(argv).check.url()
    }

    #[test]
    fn prefers_the_url_then_the_metrics_port_then_the_api_port() {
        assert_eq!(
            url_of(&["--url", "http://example.test/x", "--listen", "0.0.0.0:1"]),
            "http://example.test/x"
        );
        assert_eq!(
            url_of(&[
                "--metrics-listen",
                "0.0.0.0:9090",
                "--listen",
                "0.0.0.0:8080"
            ]),
            "http://127.0.0.1:9090/healthz"
        );
        assert_eq!(
            url_of(&["--listen", "0.0.0.0:8081"]),
            "http://127.0.0.1:8081/healthz"
        );
        assert_eq!(
            url_of(&["--listen", "[::]:8082"]),
            "http://[::1]:8082/healthz"
        );
        assert_eq!(
            url_of(&["--listen", "10.1.2.3:8083"]),
            "http://10.1.2.3:8083/healthz"
        );
    }
}
